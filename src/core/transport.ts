/**
 * The one interface every transport implements. A transport writes and closes; it does not
 * read on anyone's behalf and knows nothing about sessions or metrics.
 *
 * @module
 */
import type { Disconnect } from "./disconnect.ts";

/**
 * Transport label values (`gateway_connections_active{transport}`): `quic` is the message
 * protocol on QUIC (ALPN `mmo`), `webtransport` a WebTransport session on the same listener.
 */
export type TransportKind = "websocket" | "quic" | "webtransport";

/** Every transport kind, for metrics that list each one even at zero. */
export const TRANSPORT_KINDS: readonly TransportKind[] = ["websocket", "quic", "webtransport"];

/** A live connection to one client, as the gateway sees it. */
export interface Transport {
  /** Which transport this is. */
  readonly kind: TransportKind;
  /**
   * Sends one encoded envelope; returns its size in UTF-8 bytes (the transport counts them as
   * it encodes, so the caller need not walk the text again), or -1 when the connection can no
   * longer send.
   */
  write(text: string): number;
  /**
   * Sends one envelope unreliably (a QUIC or WebTransport datagram) and returns its size in
   * UTF-8 bytes; absent, or -1, where the transport or connection cannot, and the caller falls
   * back to `write`.
   */
  writeDatagram?(text: string): number;
  /**
   * Bytes accepted by `write` and not yet handed to the socket, for operators (the admin API)
   * and outbound limits; 0 where the transport cannot tell.
   */
  readonly outboundBytes: number;
  /**
   * Sends a protocol-level ping (a WebSocket ping frame) and reports its answer to the gateway
   * as `Gateway.pong(session, rttMs)`; false when it cannot send now. Absent where the
   * transport has none: the gateway then measures with an application ping.
   */
  ping?(): boolean;
  /** Closes the connection with a disconnect from the table in `disconnect.ts`; safe twice. */
  close(disconnect: Disconnect): void;
}
