/**
 * A session: one client connection as the gateway tracks it, whatever its transport.
 *
 * @module
 */
import type { SessionRate } from "./rate_limiter.ts";
import type { ResumeBuffer } from "./resume_buffer.ts";
import type { Transport, TransportKind } from "./transport.ts";

/**
 * Where a session is in its life: `live` with a connection, or `detached`: its connection is
 * gone, and it waits `session.resume_window_sec` for the client to resume it.
 */
export type SessionState = "live" | "detached";

/** One connected client. Counters are plain numbers so the hot path only adds. */
export interface Session {
  /**
   * Unique id (a UUID), stable for the life of the session. A resume gives the resuming
   * connection's session the id of the session it resumes.
   */
  id: string;
  /** The transport kind, for metrics and lookups. */
  readonly kind: TransportKind;
  /** Where the client connects from, `host:port`. */
  readonly remoteAddr: string;
  /** When the session was created, ms since the epoch (carried over by a resume). */
  createdAt: number;
  /** Last inbound frame (including pongs), ms since the epoch; the sweeper reads it. */
  lastSeenAt: number;
  /** Frames received. */
  messagesIn: number;
  /** Frames sent. */
  messagesOut: number;
  /** Payload bytes received (UTF-8), datagrams included. */
  bytesIn: number;
  /** Payload bytes sent (UTF-8), datagrams included. */
  bytesOut: number;
  /** Latest measured round-trip time in ms; undefined until one was measured. */
  rttMs: number | undefined;
  /** The id of the unanswered RTT probe (`rtt_prober.ts`), 0 when none is out. */
  rttProbeId: number;
  /** When that probe went out, `performance.now()` ms. */
  rttProbeSentAt: number;
  /** `messagesOut` when the prober's marking cursor last passed, -1 before it first did. */
  rttProbeMark: number;
  /** Malformed or unknown frames received; past the limit the session is closed. */
  protocolErrors: number;
  /**
   * The user: the verified token's `sub` (`auth.mode` jwt), or whom a service bound the session
   * to (see `Hub.bindUser`).
   */
  userId: string | undefined;
  /**
   * Whether routes may be used: from the start with `auth.mode` none, after a successful `auth`
   * with jwt. The pipeline's one check per message.
   */
  authenticated: boolean;
  /** The verified token's claims (`auth.mode` jwt); services read them as `context.claims`. */
  claims: Readonly<Record<string, unknown>> | undefined;
  /** When the token runs out, its `exp` plus the leeway, ms since the epoch; Infinity if never. */
  tokenExpiresAt: number;
  /** Whether the `auth.expiring` push for the current token has gone out. */
  expiryNoticed: boolean;
  /** Data services keep for this session; created on first write. */
  data: Map<string, unknown> | undefined;
  /** How the gateway reaches the client; a transport that sends nothing while detached. */
  transport: Transport;
  /** Live, or detached and waiting to be resumed. */
  state: SessionState;
  /**
   * The resume buffer, once the session has been given a resume token (`hello`, or `auth` with
   * resume on): its `seq` counter and latest reliable messages. Undefined: not resumable, and
   * what it is sent carries no `seq`.
   */
  resume: ResumeBuffer | undefined;
  /** Its inbound rate-limit buckets (`rate_limiter.ts`); undefined until its first message. */
  rate: SessionRate | undefined;
  /**
   * Bytes written to the transport since its `outboundBytes` was last read: the writer reads
   * that (a runtime call on some engines) only once this passes a threshold.
   */
  outboundUnchecked: number;
  /** Whether the transport held more than half of `limits.max_outbound_bytes` when last read. */
  congested: boolean;
}
