/**
 * The server side of a WebTransport handshake over HTTP/3 (draft-ietf-webtrans-http3, on
 * RFC 9114, RFC 9220 and RFC 9297), on a `Deno.QuicConn` whose ALPN is `h3`: exchange SETTINGS,
 * read the extended CONNECT, let the caller decide on it from its URL and Origin, answer with a
 * real HTTP status.
 *
 * `Deno.upgradeWebTransport` does this too, but answers 200 before the caller sees the request,
 * shows no headers (so no Origin check), closes sessions without their code and reads no
 * close from the client. This small layer does what the gateway needs: one session per
 * connection, the static QPACK table only, close codes as capsules both ways.
 *
 * @module
 */
import {
  decodeSettings,
  encodeFrame,
  encodeSettings,
  FrameType,
  H3Error,
  serverSettings,
  StreamType,
  supportsWebTransport,
  WEBTRANSPORT_STREAM,
} from "./http3.ts";
import { decodeFieldSection, encodeFieldSection, type FieldLine } from "./qpack.ts";
import { StreamReader } from "./stream_reader.ts";
import { encodeVarint } from "./varint.ts";
import type { WebTransportRequest } from "./webtransport_request.ts";
import { IncomingStreams, refuseStream, WebTransportSession } from "./webtransport_session.ts";
import { waitAtMost } from "../quic_engine.ts";

/**
 * The largest CONNECT request field section read, in bytes. A browser's is about 200; 16 KiB
 * leaves room for cookies and long URLs while bounding what one connection makes us buffer.
 */
export const MAX_FIELD_SECTION_BYTES = 16_384;

/** The largest SETTINGS frame read, in bytes: a few dozen settings at most. */
const MAX_SETTINGS_BYTES = 1_024;

/** Options for {@linkcode acceptWebTransport}. */
export interface AcceptWebTransportOptions {
  /** Decides on the request: 200 accepts it, any other HTTP status refuses it. */
  decide(request: WebTransportRequest): number;
  /** Bound on the client's SETTINGS and CONNECT arriving, ms. */
  timeoutMs: number;
  /** How long a refusal waits for the client to read its status before the connection
   * closes, ms. */
  lingerMs: number;
  /** Aborts the handshake (the listener is closing): the connection closes at once. */
  signal?: AbortSignal;
}

/** Why a connection that offered `h3` never became a session; the connection is closed. */
export class WebTransportHandshakeError extends Error {
  /** The HTTP/3 error code the connection was closed with. */
  readonly code: number;

  /** Creates the error for a connection closed with `code`. */
  constructor(code: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WebTransportHandshakeError";
    this.code = code;
  }
}

/** The CONNECT request as read off its stream, before it is decoded. */
interface ConnectRequest {
  stream: Deno.QuicBidirectionalStream;
  reader: StreamReader;
  fieldSection: Uint8Array;
}

/**
 * Classifies the client's streams for the connection's whole life: its control stream (the
 * SETTINGS), the QPACK streams (drained), the CONNECT request, and WebTransport streams (queued
 * for the session). Anything else is refused.
 */
class StreamDispatcher {
  readonly settings = Promise.withResolvers<Map<number, number>>();
  readonly connect = Promise.withResolvers<ConnectRequest>();
  readonly streams = new IncomingStreams();
  readonly #conn: Deno.QuicConn;
  #sawControl = false;
  #sawConnect = false;

  constructor(conn: Deno.QuicConn) {
    this.#conn = conn;
    // A failed handshake never reads these; keep their rejections from going unhandled.
    this.settings.promise.catch(() => {});
    this.connect.promise.catch(() => {});
    void this.#each(conn.incomingUnidirectionalStreams, (stream) => this.#unidirectional(stream))
      .finally(() => this.#ended());
    void this.#each(conn.incomingBidirectionalStreams, (stream) => this.#bidirectional(stream))
      .finally(() => this.#ended());
  }

  async #each<T>(streams: ReadableStream<T>, handle: (stream: T) => Promise<void>) {
    try {
      for await (const stream of streams) void handle(stream).catch((error) => this.#fail(error));
    } catch {
      // The connection closed.
    }
  }

  #ended(): void {
    const gone = new WebTransportHandshakeError(H3Error.noError, "The connection closed");
    this.settings.reject(gone);
    this.connect.reject(gone);
    this.streams.end();
  }

  /** A protocol error on a stream fails the handshake (or, later, the connection). */
  #fail(error: unknown): void {
    const failure = error instanceof WebTransportHandshakeError
      ? error
      : new WebTransportHandshakeError(
        H3Error.generalProtocolError,
        (error as Error)?.message ?? String(error),
        { cause: error },
      );
    this.settings.reject(failure);
    this.connect.reject(failure);
    closeQuietly(this.#conn, failure.code, failure.message);
  }

  async #unidirectional(stream: Deno.QuicReceiveStream): Promise<void> {
    const reader = new StreamReader(stream);
    const type = await reader.varint("a stream type").catch(() => null);
    if (type === StreamType.control && !this.#sawControl) {
      this.#sawControl = true;
      this.settings.resolve(await readSettings(reader));
      await reader.drain(); // GOAWAY and the like: nothing for one session to act on.
    } else if (type === StreamType.qpackEncoder || type === StreamType.qpackDecoder) {
      await reader.drain(); // Nothing comes with a dynamic table capacity of 0.
    } else {
      await reader.cancel(); // WebTransport unidirectional streams (0x54) and unknown types.
    }
  }

  async #bidirectional(stream: Deno.QuicBidirectionalStream): Promise<void> {
    const reader = new StreamReader(stream.readable);
    let type: number | null;
    try {
      type = await reader.varint("a stream's first frame type");
    } catch {
      return refuseStream(stream);
    }
    if (type === WEBTRANSPORT_STREAM) {
      const sessionId = await reader.varint("a WebTransport stream's session id").catch(() => null);
      if (sessionId === null) return refuseStream(stream);
      reader.release();
      this.streams.push(stream, sessionId);
    } else if (type === FrameType.headers && !this.#sawConnect) {
      this.#sawConnect = true;
      const length = await reader.varint("the HEADERS frame's length");
      if (length === null || length > MAX_FIELD_SECTION_BYTES) {
        throw new WebTransportHandshakeError(
          H3Error.messageError,
          `The CONNECT request's fields take ${length} bytes, above the ${MAX_FIELD_SECTION_BYTES} ` +
            "this server reads",
        );
      }
      const fieldSection = await reader.bytes(length, "the CONNECT request's fields");
      this.connect.resolve({ stream, reader, fieldSection });
    } else {
      refuseStream(stream); // A second request, or not HTTP/3 at all.
    }
  }
}

async function readSettings(reader: StreamReader): Promise<Map<number, number>> {
  const type = await reader.varint("the control stream's first frame");
  if (type !== FrameType.settings) {
    throw new WebTransportHandshakeError(
      H3Error.missingSettings,
      "The client's control stream does not start with SETTINGS",
    );
  }
  const length = await reader.varint("the SETTINGS frame's length");
  if (length === null || length > MAX_SETTINGS_BYTES) {
    throw new WebTransportHandshakeError(
      H3Error.excessiveLoad,
      `The client's SETTINGS take ${length} bytes, above the ${MAX_SETTINGS_BYTES} read`,
    );
  }
  try {
    return decodeSettings(await reader.bytes(length, "the SETTINGS frame"));
  } catch (error) {
    throw new WebTransportHandshakeError(H3Error.settingsError, (error as Error).message, {
      cause: error,
    });
  }
}

function closeQuietly(conn: Deno.QuicConn, code: number, reason: string): void {
  try {
    // QUIC limits the reason phrase to what fits a packet; ours are short.
    conn.close({ closeCode: code, reason: reason.slice(0, 200) });
  } catch {
    // Closed already.
  }
}

/** The fields of a request that must be there, or the status that refuses it. */
function parseRequest(fields: readonly FieldLine[]): WebTransportRequest | 400 {
  const get = (name: string) => fields.find(([n]) => n === name)?.[1];
  const authority = get(":authority");
  const path = get(":path");
  if (
    get(":method") !== "CONNECT" || get(":protocol") !== "webtransport" ||
    get(":scheme") !== "https" || !authority || !path?.startsWith("/")
  ) {
    return 400;
  }
  let url: URL;
  try {
    url = new URL(`https://${authority}${path}`);
  } catch {
    return 400;
  }
  return { url, origin: get("origin"), fields };
}

/**
 * Runs the HTTP/3 side of a WebTransport handshake on `conn` (ALPN `h3`): sends the server's
 * SETTINGS, waits for the client's and for its extended CONNECT, asks `decide`, and answers
 * with that status. Resolves with the session whenever `decide` said 200. On any other status
 * it answers it,
 * waits up to `lingerMs` for the client to read it, closes the connection and resolves
 * undefined.
 *
 * @throws {WebTransportHandshakeError} on a timeout, an abort, a client whose SETTINGS lack
 * WebTransport or datagrams, or malformed HTTP/3; the connection is closed by then.
 */
export async function acceptWebTransport(
  conn: Deno.QuicConn,
  options: AcceptWebTransportOptions,
): Promise<WebTransportSession | undefined> {
  const dispatcher = new StreamDispatcher(conn);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const { signal } = options;
  let onAbort: (() => void) | undefined;
  let settings: Map<number, number>, connect: ConnectRequest;
  let control: WritableStream<Uint8Array>;
  try {
    control = await conn.createUnidirectionalStream();
    // The control stream stays open for the connection's life: closing it is an error.
    const writer = control.getWriter();
    await writer.write(encodeVarint(StreamType.control));
    await writer.write(encodeFrame(FrameType.settings, encodeSettings(serverSettings())));
    writer.releaseLock();
    const giveUp = new Promise<never>((_, reject) => {
      timer = setTimeout(() =>
        reject(
          new WebTransportHandshakeError(
            H3Error.requestCancelled,
            `No WebTransport request within ${options.timeoutMs} ms`,
          ),
        ), options.timeoutMs);
      onAbort = () =>
        reject(new WebTransportHandshakeError(H3Error.requestCancelled, "The server is closing"));
      signal?.addEventListener("abort", onAbort, { once: true });
      if (signal?.aborted) onAbort();
    });
    [settings, connect] = await Promise.race([
      Promise.all([dispatcher.settings.promise, dispatcher.connect.promise]),
      giveUp,
    ]);
  } catch (error) {
    const failure = error instanceof WebTransportHandshakeError
      ? error
      : new WebTransportHandshakeError(
        H3Error.noError,
        `The connection failed during the WebTransport handshake: ${(error as Error).message}`,
        { cause: error },
      );
    closeQuietly(conn, failure.code, failure.message);
    await conn.closed.catch(() => {});
    throw failure;
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
  const fail = async (code: number, message: string, cause?: unknown): Promise<never> => {
    closeQuietly(conn, code, message);
    await conn.closed.catch(() => {});
    throw new WebTransportHandshakeError(code, message, { cause });
  };
  if (!supportsWebTransport(settings)) {
    return await fail(
      H3Error.settingsError,
      "The client's SETTINGS do not enable WebTransport and HTTP datagrams",
    );
  }
  let fields;
  try {
    fields = decodeFieldSection(connect.fieldSection);
  } catch (error) {
    return await fail(H3Error.qpackDecompressionFailed, (error as Error).message, error);
  }
  const request = parseRequest(fields);
  const status = typeof request === "number" ? request : options.decide(request);
  const writer = connect.stream.writable.getWriter();
  const respond = (status: number) =>
    writer.write(encodeFrame(FrameType.headers, encodeFieldSection([[":status", String(status)]])));
  if (typeof request === "number" || status !== 200) {
    const answered = (async () => {
      await respond(status);
      await writer.close();
      await connect.reader.drain();
    })();
    answered.catch(() => {}); // The client may be gone already; the close settles it.
    await waitAtMost(answered, options.lingerMs);
    closeQuietly(conn, H3Error.noError, "");
    await conn.closed.catch(() => {});
    return undefined;
  }
  // Not awaited: once `decide` said 200 the session is returned, whatever happens (a caller may
  // count it as admitted); a failed write means the connection is gone, which ends it anyway.
  respond(200).catch(() => {});
  return new WebTransportSession({
    conn,
    sessionId: Number(connect.stream.writable.id),
    connectReader: connect.reader,
    connectWriter: writer,
    streams: dispatcher.streams,
    controlStream: control,
  });
}
