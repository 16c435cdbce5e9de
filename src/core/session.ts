/**
 * A session: one client connection as the gateway tracks it, whatever its transport.
 *
 * @module
 */
import type { Transport, TransportKind } from "./transport.ts";

/** One connected client. Counters are plain numbers so the hot path only adds. */
export interface Session {
  /** Unique id (a UUID), stable for the life of the connection. */
  readonly id: string;
  /** The transport kind, for metrics and lookups. */
  readonly kind: TransportKind;
  /** Where the client connects from, `host:port`. */
  readonly remoteAddr: string;
  /** When the session was created, ms since the epoch. */
  readonly createdAt: number;
  /** Last inbound frame (including pongs), ms since the epoch; the sweeper reads it. */
  lastSeenAt: number;
  /** Frames received. */
  messagesIn: number;
  /** Frames sent. */
  messagesOut: number;
  /** Malformed or unknown frames received; past the limit the session is closed. */
  protocolErrors: number;
  /** The user a service bound this session to (see `Hub.bindUser`). */
  userId: string | undefined;
  /** Data services keep for this session; created on first write. */
  data: Map<string, unknown> | undefined;
  /** How the gateway reaches the client. */
  readonly transport: Transport;
}
