/**
 * The {@linkcode ClientTransport} over WebTransport (HTTP/3): one bidirectional stream carries
 * length-prefixed envelopes both ways, and unreliable pushes may arrive as datagrams, one
 * envelope each without a prefix (docs/protocol.md, QUIC; the framing is the same).
 *
 * The WebTransport types are declared here, structurally, so the SDK type-checks in every
 * runtime, including those whose libraries do not know WebTransport yet.
 *
 * @module
 */
import {
  type ClientTransport,
  type OpenTransportOptions,
  type TransportClose,
  waitReleased,
} from "./client_transport.ts";
import { encodeFrame, FrameDecoder } from "./_length_prefix.ts";

/** A certificate the browser should trust by hash (self-signed development certificates,
 * valid at most 14 days by the WebTransport spec). */
export interface CertificateHash {
  /** Only `sha-256` is defined. */
  algorithm: "sha-256";
  /** The SHA-256 digest of the DER certificate. */
  value: BufferSource;
}

/** Options for {@linkcode openWebTransport}. */
export interface OpenWebTransportOptions extends OpenTransportOptions {
  /** Certificates trusted by hash instead of by the system's roots. */
  serverCertificateHashes?: CertificateHash[];
}

interface WebTransportCloseInfoLike {
  closeCode?: number;
  reason?: string;
}

interface WebTransportStreamLike {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

interface WebTransportLike {
  readonly ready: Promise<unknown>;
  readonly closed: Promise<WebTransportCloseInfoLike>;
  readonly datagrams: {
    readonly readable: ReadableStream<Uint8Array>;
    readonly writable?: WritableStream<Uint8Array>;
    readonly maxDatagramSize?: number;
  };
  createBidirectionalStream(): Promise<WebTransportStreamLike>;
  close(info?: WebTransportCloseInfoLike): void;
}

type WebTransportConstructor = new (
  url: string,
  options?: { serverCertificateHashes?: CertificateHash[] },
) => WebTransportLike;

/** The runtime's WebTransport, when it has one. */
export function webTransportConstructor(): WebTransportConstructor | undefined {
  return (globalThis as { WebTransport?: WebTransportConstructor }).WebTransport;
}

/** Largest frame accepted from the gateway: far above any sane envelope, low enough that a
 * corrupt length cannot make the client buffer gigabytes. */
const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** Close code for a stream the gateway framed wrongly: a fault a reconnect would repeat. */
const CLOSE_BAD_FRAME = 1008;

const encoder = new TextEncoder();
const datagramDecoder = new TextDecoder();

class WebTransportTransport implements ClientTransport {
  readonly kind = "webtransport" as const;
  onMessage: ((text: string) => void) | undefined;
  readonly closed: Promise<TransportClose>;
  readonly #session: WebTransportLike;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #datagrams: WritableStreamDefaultWriter<Uint8Array> | undefined;
  readonly #released: Promise<unknown>;
  #closing = false;
  #settle!: (close: TransportClose) => void;

  constructor(session: WebTransportLike, stream: WebTransportStreamLike) {
    this.#session = session;
    this.#writer = stream.writable.getWriter();
    this.#writer.closed.catch(() => {});
    this.#datagrams = session.datagrams.writable?.getWriter();
    this.#datagrams?.closed.catch(() => {});
    this.closed = new Promise((resolve) => this.#settle = resolve);
    const sessionClosed = session.closed.then(
      (info) => ({ code: info.closeCode ?? 0, reason: info.reason ?? "" }),
      (error: unknown) => ({ code: 1006, reason: errorText(error) }),
    );
    // The gateway finishes the stream before it closes the session: read the stream to its
    // end first, so the last envelopes before a close are not lost to it.
    const read = this.#readStream(stream.readable);
    void this.#readDatagrams(session.datagrams.readable);
    this.#released = Promise.all([sessionClosed, read]);
    void Promise.all([sessionClosed, read]).then(([close]) => this.#settle(close));
  }

  async #readStream(readable: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new FrameDecoder(MAX_FRAME_BYTES);
    const reader = readable.getReader();
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) {
          // The gateway finishes the stream before it closes the session, and sends the close
          // code once this side is finished too: a browser drops what the page has not read
          // when the session closes, so the gateway waits until everything has been read.
          this.#writer.close().catch(() => {});
          return;
        }
        for (const text of decoder.push(value)) this.onMessage?.(text);
      }
    } catch (error) {
      if (error instanceof RangeError || error instanceof TypeError) {
        void this.close(CLOSE_BAD_FRAME, `bad frame from the gateway: ${error.message}`);
      }
      // Else the session ended under the read: `closed` says how.
    } finally {
      reader.releaseLock();
    }
  }

  async #readDatagrams(readable: ReadableStream<Uint8Array>): Promise<void> {
    const reader = readable.getReader();
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) return;
        this.onMessage?.(datagramDecoder.decode(value));
      }
    } catch {
      // The session ended: `closed` says how.
    } finally {
      reader.releaseLock();
    }
  }

  send(text: string): boolean {
    if (this.#closing) return false;
    // Failures surface as the session's close; the write's own rejection adds nothing.
    this.#writer.write(encodeFrame(text)).catch(() => {});
    return true;
  }

  sendDatagram(text: string): boolean {
    const size = this.#session.datagrams.maxDatagramSize ?? 0;
    if (this.#closing || this.#datagrams === undefined) return false;
    const bytes = encoder.encode(text);
    if (bytes.length > size) return false;
    this.#datagrams.write(bytes).catch(() => {});
    return true;
  }

  async close(code: number, reason: string): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#settle({ code, reason });
      try {
        this.#session.close({ closeCode: code, reason });
      } catch {
        // Already closed.
      }
    }
    await waitReleased(this.#released);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Opens a WebTransport session to `url` (`https://host:port/path`), opens its stream and
 * announces it to the gateway with a ping (a QUIC peer sees a stream only once data is sent).
 *
 * @throws {Error} when this runtime has no WebTransport, or the session cannot be
 * established: refused, bad certificate, timed out or aborted (the message says which).
 */
export async function openWebTransport(
  url: string,
  options: OpenWebTransportOptions,
): Promise<ClientTransport> {
  const WebTransport = webTransportConstructor();
  if (WebTransport === undefined) {
    throw new Error(`Cannot connect to ${url}: this runtime has no WebTransport`);
  }
  if (options.signal?.aborted) throw new Error(`Cannot connect to ${url}: aborted`);
  const session = new WebTransport(
    url,
    options.serverCertificateHashes
      ? { serverCertificateHashes: options.serverCertificateHashes }
      : {},
  );
  session.closed.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const giveUp = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    onAbort = () => reject(new Error("aborted"));
    options.signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    await Promise.race([session.ready, giveUp]);
    const stream = await Promise.race([session.createBidirectionalStream(), giveUp]);
    const transport = new WebTransportTransport(session, stream);
    transport.send(`{"type":"ping"}`);
    return transport;
  } catch (error) {
    try {
      session.close();
    } catch {
      // Never established.
    }
    throw new Error(`Cannot connect to ${url}: ${errorText(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort!);
  }
}
