/**
 * A WebTransport client for tests, written on `Deno.connectQuic` (ALPN `h3`) the way a browser
 * speaks it: control stream with SETTINGS, an extended CONNECT, the session's stream and
 * datagrams, and close codes as CLOSE_WEBTRANSPORT_SESSION capsules both ways. Deno's own
 * `WebTransport` ignores close capsules (it takes the QUIC close code instead), so it cannot
 * show whether the gateway's close codes reach a browser; this client reads them where a
 * browser does. Every knob a refusal test needs (path, Origin, settings, a silent client) is an
 * option.
 */
import { CapsuleParser, encodeCloseCapsule } from "../src/transport/webtransport/capsule.ts";
import {
  encodeFrame,
  encodeSettings,
  FrameType,
  Setting,
  StreamType,
  WEBTRANSPORT_STREAM,
} from "../src/transport/webtransport/http3.ts";
import {
  decodeFieldSection,
  encodeFieldSection,
  type FieldLine,
} from "../src/transport/webtransport/qpack.ts";
import { StreamReader } from "../src/transport/webtransport/stream_reader.ts";
import { encodeVarint } from "../src/transport/webtransport/varint.ts";
import { encodeFrame as encodeEnvelopeFrame, FrameDecoder } from "../src/transport/quic_framing.ts";
import { within } from "./_helpers.ts";
import { type CloseInfo, MessageQueue } from "./_transport_suite.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Settings a browser sends: HTTP datagrams and WebTransport, current and draft code points. */
export const BROWSER_SETTINGS: ReadonlyMap<number, number> = new Map([
  [Setting.h3Datagram, 1],
  [Setting.h3DatagramDraft04, 1],
  [Setting.webTransportMaxSessions, 1],
  [Setting.webTransportEnableDraft02, 1],
]);

/** Options for {@linkcode connectWebTransport}. */
export interface WebTransportClientOptions {
  /** The gateway's QUIC port on 127.0.0.1. */
  port: number;
  /** The CA that signed the gateway's certificate. */
  caPem: string;
  /** The request path. Default `/wt`. */
  path?: string;
  /** The `origin` field; none by default (a native client). */
  origin?: string;
  /** The client's SETTINGS. Default {@linkcode BROWSER_SETTINGS}. */
  settings?: ReadonlyMap<number, number>;
  /** Replaces the request's fields entirely, for malformed requests. */
  fields?: FieldLine[];
  /** Open the session's bidirectional stream (the message stream). Default true. */
  openStream?: boolean;
}

/** What the server answered, and the session when it answered 200. */
export interface WebTransportClientResult {
  /** The response's `:status`. */
  status: number;
  /** The session on 200. */
  session?: WebTransportTestSession;
}

/** An open session, as the shared transport suite and the WebTransport tests drive it. */
export class WebTransportTestSession {
  /** How the session ended: the close capsule's code and reason, as a browser reports them. */
  readonly closed: Promise<CloseInfo>;
  /** Every datagram received, prefix removed, as text. */
  readonly datagrams: string[] = [];
  /** Set if the server's control stream ended while the connection was open: an HTTP/3
   * connection error (H3_CLOSED_CRITICAL_STREAM) that browsers close the connection for. */
  controlStreamEnded = false;
  readonly #conn: Deno.QuicConn;
  readonly #endpoint: Deno.QuicEndpoint;
  readonly #connectWriter: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stream: Deno.QuicBidirectionalStream | undefined;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  readonly #messages = new MessageQueue();
  readonly #done: Promise<unknown>;

  constructor(
    conn: Deno.QuicConn,
    endpoint: Deno.QuicEndpoint,
    connectReader: StreamReader,
    connectWriter: WritableStreamDefaultWriter<Uint8Array>,
    stream: Deno.QuicBidirectionalStream | undefined,
  ) {
    this.#conn = conn;
    this.#endpoint = endpoint;
    this.#connectWriter = connectWriter;
    this.#stream = stream;
    this.#writer = stream?.writable.getWriter();
    this.#writer?.closed.catch(() => {});
    const reading = stream ? this.#readStream(stream.readable) : Promise.resolve();
    const datagrams = this.#readDatagrams();
    const control = this.#watchControlStream();
    this.closed = this.#readClose(connectReader).then(async (close) => {
      // A browser reads the stream to its end before it reports the close (the SDK does).
      await reading;
      return close;
    });
    this.#done = Promise.all([
      this.closed,
      reading,
      datagrams,
      control,
      conn.closed.catch(() => {}),
    ])
      .finally(() => endpoint.close());
  }

  async #readClose(reader: StreamReader): Promise<CloseInfo> {
    const capsules = new CapsuleParser();
    try {
      while (true) {
        const type = await reader.varint();
        if (type === null) return { code: 0, reason: "" };
        const length = await reader.varint();
        if (length === null) return { code: 0, reason: "" };
        const payload = await reader.bytes(length, "a frame");
        const close = type === FrameType.data ? capsules.push(payload) : undefined;
        if (close) return close;
      }
    } catch {
      // The connection closed without a capsule: what a browser reports as 1006-like loss.
      return { code: 1006, reason: "connection lost" };
    }
  }

  async #readStream(readable: ReadableStream<Uint8Array>): Promise<void> {
    const frames = new FrameDecoder(16 * 1024 * 1024, {
      onFrame: (payload) => this.#messages.push(decoder.decode(payload)),
      onFault: (_fault, message) => this.#messages.push(`FRAMING FAULT: ${message}`),
    });
    try {
      for await (const chunk of readable) frames.push(chunk);
      // As the SDK does: finish this side once everything is read, which lets the gateway send
      // the close code without waiting out its linger.
      await this.#writer?.close().catch(() => {});
    } catch {
      // Reset when the session closed.
    }
    this.#messages.end();
  }

  async #watchControlStream(): Promise<void> {
    try {
      for await (const stream of this.#conn.incomingUnidirectionalStreams) {
        const reader = new StreamReader(stream);
        if (await reader.varint() !== StreamType.control) {
          await reader.cancel();
          continue;
        }
        // A clean end is the error; a reset by a closing connection is not.
        while (await reader.chunk(4096) !== null);
        this.controlStreamEnded = true;
      }
    } catch {
      // The connection closed.
    }
  }

  async #readDatagrams(): Promise<void> {
    try {
      while (true) {
        const datagram = await this.#conn.readDatagram();
        if (datagram[0] === 0) this.datagrams.push(decoder.decode(datagram.subarray(1)));
      }
    } catch {
      // The connection closed.
    }
  }

  /** Sends one envelope as a frame on the message stream. */
  async send(text: string): Promise<void> {
    if (!this.#writer) throw new Error("This session has no message stream");
    await this.#writer.write(encodeEnvelopeFrame(text));
  }

  /** Sends `bytes` as one DATA frame on the CONNECT stream (where capsules go). */
  async sendConnectData(bytes: Uint8Array): Promise<void> {
    await this.#connectWriter.write(encodeFrame(FrameType.data, bytes));
  }

  /** Sends one datagram of the session (quarter stream id 0, then the payload). */
  async sendDatagram(text: string): Promise<void> {
    const payload = encoder.encode(text);
    const datagram = new Uint8Array(1 + payload.length);
    datagram.set(payload, 1);
    await this.#conn.sendDatagram(datagram);
  }

  /**
   * Opens a bidirectional stream that starts with `header` and resolves true once the server
   * ends it (reset or finished; it never sends on a stream it refuses), false if it has not
   * within `ms`.
   */
  async openStreamRefused(header: Uint8Array, ms = 2_000): Promise<boolean> {
    // The gateway allows two bidirectional streams at once (CONNECT and the message stream):
    // a refused one frees its slot only once both sides have closed it.
    const stream = await within(
      this.#conn.createBidirectionalStream({ waitUntilAvailable: true }),
      ms,
      "room for another stream",
    );
    const writer = stream.writable.getWriter();
    writer.closed.catch(() => {});
    await writer.write(header).catch(() => {});
    const reader = stream.readable.getReader();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        reader.read().then(({ done }) => done, () => true),
        new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms)),
      ]);
    } finally {
      clearTimeout(timer);
      reader.cancel().catch(() => {});
      writer.abort().catch(() => {});
    }
  }

  /** The next envelope; rejects after `timeoutMs` or once the stream ended. */
  next(timeoutMs = 2_000): Promise<string> {
    return this.#messages.next(timeoutMs);
  }

  /**
   * Closes the session as a browser does: a close capsule with `code`, the end of the CONNECT
   * stream; then waits for the server to close the connection.
   */
  async close(code = 1000, reason = ""): Promise<void> {
    try {
      await this.#connectWriter.write(
        encodeFrame(FrameType.data, encodeCloseCapsule(code, reason)),
      );
      await this.#connectWriter.close();
    } catch {
      // The session is over already.
    }
    await within(this.#conn.closed.catch(() => {}), 3_000, "the server to close the connection");
    await this.#done;
  }

  /** Drops the connection without a capsule (a browser tab that goes away). */
  async drop(): Promise<void> {
    this.#conn.close({ closeCode: 0x100, reason: "" });
    await this.#done;
  }

  /** Waits until the session is over and the endpoint released. */
  async released(): Promise<void> {
    await this.#done;
    this.#stream?.readable.cancel().catch(() => {});
  }
}

/**
 * Opens a WebTransport session to the gateway and reports the status it answered; on 200 the
 * session is open (with its message stream unless `openStream` is false).
 */
export async function connectWebTransport(
  options: WebTransportClientOptions,
): Promise<WebTransportClientResult> {
  const endpoint = new Deno.QuicEndpoint({ hostname: "127.0.0.1", port: 0 });
  let conn: Deno.QuicConn | undefined;
  try {
    conn = await Deno.connectQuic({
      endpoint,
      hostname: "127.0.0.1",
      port: options.port,
      alpnProtocols: ["h3"],
      caCerts: [options.caPem],
      maxIdleTimeout: 10_000,
    });
    const control = await conn.createUnidirectionalStream();
    const controlWriter = control.getWriter();
    await controlWriter.write(encodeVarint(StreamType.control));
    await controlWriter.write(
      encodeFrame(FrameType.settings, encodeSettings(options.settings ?? BROWSER_SETTINGS)),
    );
    controlWriter.releaseLock();
    const connect = await conn.createBidirectionalStream();
    const connectWriter = connect.writable.getWriter();
    const fields: FieldLine[] = options.fields ?? [
      [":method", "CONNECT"],
      [":protocol", "webtransport"],
      [":scheme", "https"],
      [":authority", `127.0.0.1:${options.port}`],
      [":path", options.path ?? "/wt"],
      ...(options.origin ? [["origin", options.origin] as const] : []),
    ];
    await connectWriter.write(encodeFrame(FrameType.headers, encodeFieldSection(fields)));
    const reader = new StreamReader(connect.readable);
    const type = await within(reader.varint(), 5_000, "the response");
    const length = await reader.varint();
    if (type !== FrameType.headers || length === null) {
      throw new Error(`Expected a HEADERS frame, got type ${type}`);
    }
    const response = decodeFieldSection(await reader.bytes(length, "the response"));
    const status = Number(response.find(([name]) => name === ":status")?.[1]);
    if (status !== 200) {
      await connectWriter.close().catch(() => {});
      await within(conn.closed.catch(() => {}), 3_000, "the server to close after refusing");
      endpoint.close();
      return { status };
    }
    let stream: Deno.QuicBidirectionalStream | undefined;
    if (options.openStream ?? true) {
      stream = await conn.createBidirectionalStream();
      const writer = stream.writable.getWriter();
      // The header reaches the server with the first envelope; send it now so the server
      // learns of the stream at once, as a browser's stream does with its first write.
      await writer.write(new Uint8Array([...encodeVarint(WEBTRANSPORT_STREAM), 0]));
      writer.releaseLock();
    }
    return {
      status,
      session: new WebTransportTestSession(conn, endpoint, reader, connectWriter, stream),
    };
  } catch (error) {
    conn?.close({ closeCode: 0x100, reason: "" });
    await conn?.closed.catch(() => {});
    endpoint.close();
    throw error;
  }
}
