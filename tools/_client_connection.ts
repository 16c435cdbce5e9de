/**
 * The one client-side connection interface the tools use, whatever the transport: send a text
 * frame, receive text frames, learn how the connection ended, close it.
 *
 * @module
 */
import type { SourcePorts } from "./_source_ports.ts";

/** Transports the tools can speak. */
export type ClientTransport = "ws" | "quic";

/** Every transport, for usage text and flag validation. */
export const CLIENT_TRANSPORTS: readonly ClientTransport[] = ["ws", "quic"];

/** How a connection ended. */
export interface CloseInfo {
  /** Close code: a WebSocket close code, or the QUIC application error code. */
  code: number;
  /** Close reason as sent by the peer, or a local description. */
  reason: string;
  /** Whether this side asked for the close. */
  byClient: boolean;
}

/** A connected client: one text frame per protocol envelope. */
export interface ClientConnection extends AsyncDisposable {
  /** Sends one text frame; rejects when the connection can no longer send. */
  send(text: string): Promise<void>;
  /** Called for every text frame received. */
  onMessage: ((text: string) => void) | undefined;
  /** Resolves once the connection has ended, however it ended; never rejects. */
  readonly closed: Promise<CloseInfo>;
  /** Closes the connection (default code 1000) and waits, bounded, for it to end; safe twice. */
  close(code?: number, reason?: string): Promise<void>;
  /**
   * Drops the connection without a close, as a dead link would (the peer sees 1006); absent
   * where the transport cannot.
   */
  abort?(): Promise<void>;
}

/** Where and how to connect. */
export interface ConnectOptions {
  /** Host name or IP address of the gateway. */
  hostname: string;
  /** Port of the gateway's listener for the chosen transport. */
  port: number;
  /** WebSocket upgrade path, e.g. `/ws` (ignored by QUIC). */
  path: string;
  /** Local address to connect from, e.g. `127.0.0.3`; the kernel picks one when unset.
   * Only the WebSocket client honours it. */
  localAddress?: string;
  /** Where the local port comes from when `localAddress` is set; the kernel picks one when
   * unset, which gets slow past about 7,000 connections per address (see `_source_ports.ts`).
   * Only the WebSocket client honours it. */
  localPorts?: SourcePorts;
  /** PEM certificates trusted in addition to the system roots (QUIC's dev CA). */
  caCerts?: string[];
  /** Gives up connecting after this many milliseconds. */
  timeoutMs: number;
  /** Aborts connecting. */
  signal?: AbortSignal;
}

/** A connection attempt that failed; `reason` is a short label fit for counting. */
export class ConnectError extends Error {
  /** Creates a connect error with a short `reason` label, e.g. `refused` or `timeout`. */
  constructor(readonly reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectError";
  }
}

/** Opens a connection; one implementation per transport, in `_client_connection_<name>.ts`. */
export type Connector = (options: ConnectOptions) => Promise<ClientConnection>;

/** Maps a system error to a short, countable reason label. */
export function connectFailureReason(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  const text = `${typeof code === "string" ? code : ""} ${(error as Error)?.message ?? error}`;
  if (/ECONNREFUSED|refused/i.test(text)) return "refused";
  if (/EADDRNOTAVAIL|address not available/i.test(text)) return "address_not_available";
  if (/EMFILE|ENFILE|too many open files/i.test(text)) return "too_many_open_files";
  if (/ECONNRESET|reset/i.test(text)) return "reset";
  if (/ENOTFOUND|EAI_|lookup|resolve/i.test(text)) return "dns";
  if (/timed? ?out/i.test(text)) return "timeout";
  if (/Unexpected server response: (\d+)/.test(text)) {
    return `http_${/Unexpected server response: (\d+)/.exec(text)![1]}`;
  }
  if (/certificate|tls|handshake/i.test(text)) return "handshake";
  return "other";
}
