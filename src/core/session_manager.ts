/**
 * The session registry. It knows sessions, not sockets: closing a session asks its
 * {@linkcode Transport} to close and tells the listeners why.
 *
 * @module
 */
import { type Disconnect, DisconnectClientClosed } from "./disconnect.ts";
import type { Session } from "./session.ts";
import type { Transport, TransportKind } from "./transport.ts";

/** Called when a session is registered. */
export type SessionOpenedHandler = (session: Session) => void;
/** Called once when a session ends, with the reason. */
export type SessionClosedHandler = (session: Session, disconnect: Disconnect) => void;

/** Observers of the session lifecycle (metrics, logs). */
export interface SessionEvents {
  /** A session was created. */
  onSessionOpened?: SessionOpenedHandler;
  /** A session ended. */
  onSessionClosed?: SessionClosedHandler;
}

/** Options for {@linkcode SessionManager}. */
export interface SessionManagerOptions {
  /** Lifecycle observers, called in order. */
  events?: SessionEvents | SessionEvents[];
  /** Clock, ms since the epoch; injectable for tests. */
  now?: () => number;
  /** Id generator; injectable for tests. */
  newId?: () => string;
}

/** Registry of live sessions with O(1) create, touch, close and lookup. */
export class SessionManager {
  readonly #sessions = new Map<string, Session>();
  readonly #countByKind: Record<TransportKind, number> = {
    websocket: 0,
    quic: 0,
    webtransport: 0,
  };
  readonly #events: SessionEvents[];
  readonly #now: () => number;
  readonly #newId: () => string;

  /** Creates an empty registry. */
  constructor(options: SessionManagerOptions = {}) {
    this.#events = [options.events ?? []].flat();
    this.#now = options.now ?? Date.now;
    this.#newId = options.newId ?? (() => crypto.randomUUID());
  }

  /** Adds a lifecycle observer, called after those given at construction. */
  observe(events: SessionEvents): void {
    this.#events.push(events);
  }

  /** Registers a new session for `transport`. */
  create(transport: Transport, remoteAddr: string): Session {
    const now = this.#now();
    const session: Session = {
      id: this.#newId(),
      kind: transport.kind,
      remoteAddr,
      createdAt: now,
      lastSeenAt: now,
      messagesIn: 0,
      messagesOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      rttMs: undefined,
      rttProbeId: 0,
      rttProbeSentAt: 0,
      rttProbeMark: -1,
      state: "live",
      protocolErrors: 0,
      userId: undefined,
      authenticated: true,
      claims: undefined,
      tokenExpiresAt: Infinity,
      expiryNoticed: false,
      data: undefined,
      transport,
    };
    this.#sessions.set(session.id, session);
    this.#countByKind[session.kind]++;
    for (const events of this.#events) events.onSessionOpened?.(session);
    return session;
  }

  /** Marks the session as alive now. The hot path: one clock read, one store. */
  touch(session: Session): void {
    session.lastSeenAt = this.#now();
  }

  /** Looks a session up by id. */
  get(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  /**
   * Ends a session: unregisters it, closes its transport with `disconnect` and notifies
   * observers. Returns false when it had already ended.
   */
  close(session: Session, disconnect: Disconnect): boolean {
    if (!this.#remove(session, disconnect)) return false;
    session.transport.close(disconnect);
    return true;
  }

  /**
   * Records that the transport closed on its own (client went away, I/O error). Returns
   * false when the session had already ended.
   */
  closedByTransport(session: Session, disconnect: Disconnect = DisconnectClientClosed): boolean {
    return this.#remove(session, disconnect);
  }

  /** Sessions alive now. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Sessions alive now on one transport. */
  count(kind: TransportKind): number {
    return this.#countByKind[kind];
  }

  /** Iterates live sessions; closing sessions while iterating is safe. */
  values(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  /** Closes every session with `disconnect`; returns how many were closed. */
  closeAll(disconnect: Disconnect): number {
    let closed = 0;
    for (const session of [...this.#sessions.values()]) {
      if (this.close(session, disconnect)) closed++;
    }
    return closed;
  }

  #remove(session: Session, disconnect: Disconnect): boolean {
    if (this.#sessions.get(session.id) !== session) return false;
    this.#sessions.delete(session.id);
    this.#countByKind[session.kind]--;
    for (const events of this.#events) events.onSessionClosed?.(session, disconnect);
    return true;
  }
}
