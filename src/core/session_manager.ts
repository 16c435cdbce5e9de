/**
 * The session registry. It knows sessions, not sockets: closing a session asks its
 * {@linkcode Transport} to close and tells the listeners why.
 *
 * A resumable session (one with a resume buffer) whose connection goes for a reason that lets
 * the client come back (`Disconnect.detach`: a drop, a heartbeat timeout, a drain) is not
 * ended but **detached**: it keeps its id, user, groups and data, loses its transport, and
 * stays registered until it is resumed or ended for good (`end`).
 *
 * @module
 */
import { type Disconnect, DisconnectClientClosed } from "./disconnect.ts";
import type { Session } from "./session.ts";
import type { Transport, TransportKind } from "./transport.ts";

/** Called when a session is registered. */
export type SessionOpenedHandler = (session: Session) => void;
/** Called once when a session ends for good, with the reason. */
export type SessionClosedHandler = (session: Session, disconnect: Disconnect) => void;
/** Called when a resumable session lost its connection and waits to be resumed. */
export type SessionDetachedHandler = (session: Session, disconnect: Disconnect) => void;

/** Observers of the session lifecycle (metrics, logs). */
export interface SessionEvents {
  /** A session was created. */
  onSessionOpened?: SessionOpenedHandler;
  /** A session ended. */
  onSessionClosed?: SessionClosedHandler;
  /** A session was detached. */
  onSessionDetached?: SessionDetachedHandler;
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

/** The transports of detached sessions, one per kind: they send nothing. */
const DETACHED = new Map<TransportKind, Transport>();

function detachedTransport(kind: TransportKind): Transport {
  let transport = DETACHED.get(kind);
  if (transport === undefined) {
    transport = Object.freeze({ kind, outboundBytes: 0, write: () => -1, close: () => {} });
    DETACHED.set(kind, transport);
  }
  return transport;
}

/** Registry of sessions with O(1) create, touch, close and lookup. */
export class SessionManager {
  readonly #sessions = new Map<string, Session>();
  readonly #countByKind: Record<TransportKind, number> = {
    websocket: 0,
    quic: 0,
    webtransport: 0,
  };
  #detached = 0;
  readonly #events: SessionEvents[];
  readonly #now: () => number;
  readonly #newId: () => string;
  #whenEmpty: PromiseWithResolvers<void> | undefined;

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
    const session = this.#newSession(this.#newId(), transport.kind, remoteAddr, transport);
    this.#sessions.set(session.id, session);
    this.#countByKind[session.kind]++;
    for (const events of this.#events) events.onSessionOpened?.(session);
    return session;
  }

  /**
   * Registers a detached session with `id`, for a session moving here from another node; it
   * has no connection, and observers hear of it only when it ends. Undefined when a session
   * with that id is registered already.
   */
  restore(id: string, kind: TransportKind, createdAt: number): Session | undefined {
    if (this.#sessions.has(id)) return undefined;
    const session = this.#newSession(id, kind, "", detachedTransport(kind));
    session.createdAt = createdAt;
    session.state = "detached";
    this.#sessions.set(id, session);
    this.#detached++;
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
   * Ends a session from the gateway's side: closes its transport with `disconnect` and, unless
   * the session is resumable and `disconnect.detach` lets it wait to be resumed, unregisters it
   * and notifies observers. Returns false when it had ended already (or was detached already
   * and `disconnect` would detach it again).
   */
  close(session: Session, disconnect: Disconnect): boolean {
    if (this.#sessions.get(session.id) !== session) return false;
    const transport = session.transport;
    if (disconnect.detach && session.resume !== undefined) {
      if (session.state === "detached") return false;
      this.#detach(session, disconnect);
    } else {
      this.#remove(session, disconnect);
    }
    transport.close(disconnect);
    return true;
  }

  /**
   * Records that the transport closed on its own (client went away, I/O error): the session is
   * detached or ended as for {@linkcode close}. Returns false when it had ended already.
   */
  closedByTransport(session: Session, disconnect: Disconnect = DisconnectClientClosed): boolean {
    if (this.#sessions.get(session.id) !== session || session.state === "detached") return false;
    if (disconnect.detach && session.resume !== undefined) this.#detach(session, disconnect);
    else this.#remove(session, disconnect);
    return true;
  }

  /**
   * Ends a session for good, detached or not, whatever `disconnect` says about detaching.
   * Returns false when it had ended already.
   */
  end(session: Session, disconnect: Disconnect): boolean {
    if (this.#sessions.get(session.id) !== session) return false;
    const transport = session.transport;
    this.#remove(session, disconnect);
    transport.close(disconnect);
    return true;
  }

  /**
   * Registers `session` under `id` instead of its own: a resume gives the resuming connection
   * the id of the session it takes over, once that one has ended here.
   *
   * @throws {RangeError} when another session holds `id`
   */
  rekey(session: Session, id: string): void {
    if (this.#sessions.get(session.id) !== session) return;
    const holder = this.#sessions.get(id);
    if (holder !== undefined && holder !== session) {
      throw new RangeError(`Cannot give session ${session.id} the id ${id}: it is taken`);
    }
    this.#sessions.delete(session.id);
    session.id = id;
    this.#sessions.set(id, session);
  }

  /** Sessions registered now, live and detached. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Sessions waiting to be resumed. */
  get detachedCount(): number {
    return this.#detached;
  }

  /** Live sessions (connections) on one transport. */
  count(kind: TransportKind): number {
    return this.#countByKind[kind];
  }

  /** Iterates sessions, live and detached; closing sessions while iterating is safe. */
  values(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  /** Closes every session with `disconnect` (see {@linkcode close}); returns how many. */
  closeAll(disconnect: Disconnect): number {
    let closed = 0;
    for (const session of [...this.#sessions.values()]) {
      if (this.close(session, disconnect)) closed++;
    }
    return closed;
  }

  /** Ends every session for good; returns how many. */
  endAll(disconnect: Disconnect): number {
    let ended = 0;
    for (const session of [...this.#sessions.values()]) {
      if (this.end(session, disconnect)) ended++;
    }
    return ended;
  }

  /** Resolves once no session is registered, or when `signal` aborts. */
  empty(signal?: AbortSignal): Promise<void> {
    if (this.#sessions.size === 0 || signal?.aborted) return Promise.resolve();
    this.#whenEmpty ??= Promise.withResolvers<void>();
    const { promise, resolve } = this.#whenEmpty;
    signal?.addEventListener("abort", () => resolve(), { once: true });
    return promise;
  }

  #newSession(id: string, kind: TransportKind, remoteAddr: string, transport: Transport) {
    const now = this.#now();
    const session: Session = {
      id,
      kind,
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
      protocolErrors: 0,
      userId: undefined,
      authenticated: true,
      claims: undefined,
      tokenExpiresAt: Infinity,
      expiryNoticed: false,
      data: undefined,
      transport,
      state: "live",
      resume: undefined,
      rate: undefined,
      outboundUnchecked: 0,
      congested: false,
    };
    return session;
  }

  #detach(session: Session, disconnect: Disconnect): void {
    session.state = "detached";
    session.transport = detachedTransport(session.kind);
    session.resume!.detach();
    this.#countByKind[session.kind]--;
    this.#detached++;
    for (const events of this.#events) events.onSessionDetached?.(session, disconnect);
  }

  #remove(session: Session, disconnect: Disconnect): void {
    this.#sessions.delete(session.id);
    if (session.state === "detached") this.#detached--;
    else this.#countByKind[session.kind]--;
    for (const events of this.#events) events.onSessionClosed?.(session, disconnect);
    if (this.#sessions.size === 0 && this.#whenEmpty) {
      this.#whenEmpty.resolve();
      this.#whenEmpty = undefined;
    }
  }
}
