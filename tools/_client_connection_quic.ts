/**
 * The QUIC {@linkcode ClientConnection}: a thin adapter over the gateway's own QUIC client
 * (`src/transport/quic_client.ts`), with its default engine and ALPN.
 *
 * @module
 */
import { connectQuic, type QuicClientConnection } from "../src/transport/quic_client.ts";
import {
  type ClientConnection,
  type CloseInfo,
  ConnectError,
  connectFailureReason,
  type ConnectOptions,
} from "./_client_connection.ts";

class QuicAdapter implements ClientConnection {
  readonly closed: Promise<CloseInfo>;
  readonly #quic: QuicClientConnection;
  #closing = false;

  constructor(quic: QuicClientConnection) {
    this.#quic = quic;
    this.closed = quic.closed.then(({ code, reason }) => ({
      code,
      reason,
      byClient: this.#closing,
    }));
  }

  get onMessage(): ((text: string) => void) | undefined {
    return this.#quic.onMessage;
  }

  set onMessage(handler: ((text: string) => void) | undefined) {
    this.#quic.onMessage = handler;
  }

  send(text: string): Promise<void> {
    return this.#quic.send(text);
  }

  async close(code?: number, reason?: string): Promise<void> {
    this.#closing = true;
    await this.#quic.close(code, reason);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Opens a QUIC connection to `hostname:port` and its message stream.
 *
 * @throws {ConnectError} when the handshake fails, times out or is aborted.
 */
export async function connectQuicClient(options: ConnectOptions): Promise<ClientConnection> {
  const url = `quic://${options.hostname}:${options.port}`;
  // A signal of our own: connectQuic would close an established connection on abort, and the
  // caller's signal is meant for the attempt only.
  const attempt = new AbortController();
  const onAbort = () => attempt.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    attempt.abort();
  }, options.timeoutMs);
  try {
    return new QuicAdapter(
      await connectQuic({
        hostname: options.hostname,
        port: options.port,
        caCerts: options.caCerts,
        signal: attempt.signal,
      }),
    );
  } catch (error) {
    // UDP has no "connection refused": a port nobody serves shows up as a timeout.
    const [reason, why] = timedOut
      ? ["timeout", `no QUIC handshake within ${options.timeoutMs} ms`]
      : options.signal?.aborted
      ? ["aborted", "aborted"]
      : [connectFailureReason(error), (error as Error).message];
    const hint = reason === "handshake" && options.caCerts === undefined
      ? " (does the gateway use a development CA? trust it with -ca <ca.pem>)"
      : "";
    throw new ConnectError(reason, `Cannot connect to ${url}: ${why}${hint}`, { cause: error });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}
