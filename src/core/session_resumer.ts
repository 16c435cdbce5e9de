/**
 * Session resume: a client whose connection dropped comes back on a new connection, to this
 * node or another, and gets the same session with every reliable message it missed, once and
 * in order (docs/protocol.md, "Resume").
 *
 * - `hello` (or a successful `auth`) gives a session its resume token and makes it resumable:
 *   from then on what it is sent carries `seq` and is kept in its resume buffer.
 * - When its connection goes for a reason that lets the client come back, the session manager
 *   detaches it; here it gets `session.resume_window_sec` on one shared deadline wheel, then
 *   ends for good (`resume_expired`).
 * - `resume` `{token, last_seq}` on a new connection: the new connection's own, still empty,
 *   session takes over the old one's identity (id, user, groups, data, auth state, buffer), the
 *   old one ends here without a close its services would see (`resumed`), and the messages after
 *   `last_seq` are sent again, in their original form, before anything else.
 * - A token naming another node: the session is moved here from that node through
 *   {@linkcode RemoteSessions} (`src/cluster/session_takeover_nats.ts`, which also explains why
 *   no push is lost or repeated on the way); the old node answers through this class's
 *   {@linkcode SessionHandover} side.
 *
 * @module
 */
import { DeadlineWheel, type TimerSource } from "./deadline_wheel.ts";
import {
  DisconnectResumedElsewhere,
  DisconnectResumeExpired,
  DisconnectResumeOverflow,
} from "./disconnect.ts";
import type { ErrorRepliedHandler, ResumeEvents } from "./events.ts";
import type { Logger } from "./logger.ts";
import {
  encodeResponse,
  encodeResumeFailed,
  ErrorCode,
  type PushOrigin,
  type ResumeFailureReason,
} from "./protocol.ts";
import { ResumeBuffer } from "./resume_buffer.ts";
import {
  parseResumeToken,
  type ResumeToken,
  type ResumeTokens,
  secretsMatch,
} from "./resume_token.ts";
import type { Session } from "./session.ts";
import type { SessionEvents, SessionManager } from "./session_manager.ts";
import type { SessionWriter } from "./session_writer.ts";
import type { TransportKind } from "./transport.ts";

/** Resolution of the resume window, ms. */
const TICK_MS = 250;

/** Group memberships and user bindings (the hub), which move with a session. */
export interface Memberships {
  /** Groups `session` is in. */
  groupsOf(session: Session): readonly string[];
  /** Adds `session` to `group`. */
  join(session: Session, group: string): void;
  /** Removes `session` from `group`. */
  leave(session: Session, group: string): void;
  /** Binds `session` to `userId`. */
  bindUser(session: Session, userId: string): void;
}

/** What authentication does when a session is resumed (the authenticator). */
export interface ResumedAuth {
  /** `session` took over an authenticated session: track its token expiry and its login. */
  resumed(session: Session): void;
}

/** A resume that failed, and why. */
export interface ResumeFailure {
  /** Failed. */
  readonly ok: false;
  /** Why. */
  readonly reason: ResumeFailureReason;
}

/** Who a session is, as the node holding it tells the node taking it over first. */
export interface SessionIdentity {
  /** Its id. */
  readonly id: string;
  /** Its last transport. */
  readonly kind: TransportKind;
  /** When it was created, ms since the epoch. */
  readonly createdAt: number;
  /** Its user, if bound. */
  readonly userId?: string;
  /** Its groups. */
  readonly groups: readonly string[];
}

/** Everything a session is, as it moves to another node. Plain JSON. */
export interface SessionSnapshot extends SessionIdentity {
  /** Whether it has authenticated. */
  readonly authenticated: boolean;
  /** Its token's claims. */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** When its token runs out, ms since the epoch; null for never. */
  readonly tokenExpiresAt: number | null;
  /** Whether `auth.expiring` went out for its token. */
  readonly expiryNoticed: boolean;
  /** Its session data, as entries. */
  readonly data: readonly [string, unknown][];
  /** The last `seq` it was sent. */
  readonly seq: number;
  /** The stamped envelopes after the client's `last_seq`, through `seq`. */
  readonly messages: readonly string[];
  /** Frames received. */
  readonly messagesIn: number;
  /** Frames sent. */
  readonly messagesOut: number;
  /** Payload bytes received. */
  readonly bytesIn: number;
  /** Payload bytes sent. */
  readonly bytesOut: number;
  /** Protocol errors so far. */
  readonly protocolErrors: number;
}

/** Who a session is, as the node holding it tells it; or why it cannot be resumed. */
export type IdentifyResult = { ok: true; identity: SessionIdentity } | ResumeFailure;

/**
 * A session taken over: its snapshot and, for the pushes received since this node joined its
 * groups, whether the snapshot has them already; or why it cannot be resumed.
 */
export type TakeoverResult =
  | { ok: true; snapshot: SessionSnapshot; covered: (origin: PushOrigin) => boolean }
  | ResumeFailure;

/** The node holding a session hands it over (the other half of {@linkcode RemoteSessions}). */
export interface SessionHandover {
  /**
   * First step: checks the token's secret and `lastSeq`, detaches the session if its old
   * connection is still open, and tells who it is. Nothing moves yet.
   */
  identify(
    sessionId: string,
    secret: string,
    lastSeq: number,
  ): IdentifyResult;
  /**
   * Second step, synchronous: checks again, gives `send` the whole session and, when `send`
   * returns true (the answer is on its way), forgets it here. Nothing is sent to the session
   * between the snapshot and forgetting it.
   */
  handOver(
    sessionId: string,
    secret: string,
    lastSeq: number,
    send: (snapshot: SessionSnapshot) => boolean,
  ): true | ResumeFailure;
}

/** Sessions held by other nodes, moved here on resume (`session_takeover_nats.ts`). */
export interface RemoteSessions {
  /** Asks the node the token names who the session is ({@linkcode SessionHandover.identify}). */
  prepare(
    token: ResumeToken,
    lastSeq: number,
  ): Promise<IdentifyResult>;
  /**
   * Takes the session over ({@linkcode SessionHandover.handOver}). Call it synchronously right
   * after this node joined the session's groups and user: it notes at once what this node has
   * seen of the push stream. `covered` says which pushes received since then the old node had
   * put in the snapshot already.
   */
  commit(
    token: ResumeToken,
    lastSeq: number,
  ): Promise<TakeoverResult>;
}

/** Options for {@linkcode SessionResumer}. */
export interface SessionResumerOptions {
  /** The session registry. */
  sessions: SessionManager;
  /** Where answers and replays go out. */
  writer: SessionWriter;
  /** Group memberships and user bindings. */
  memberships: Memberships;
  /** Issues tokens and knows this node's id and the buffer bounds. */
  tokens: ResumeTokens;
  /** How long a detached session waits to be resumed, ms (`session.resume_window_sec`). */
  windowMs: number;
  /** Authentication, when on. */
  auth?: ResumedAuth;
  /** Other nodes' sessions, in cluster mode. */
  remote?: RemoteSessions;
  /** Observers of outcomes (metrics). */
  events: ResumeEvents & { onErrorReplied: ErrorRepliedHandler };
  /** Where resumes and expiries are logged. */
  logger: Logger;
  /** Clock, ms since the epoch; injectable for tests. */
  now?: () => number;
  /** Timer source; injectable for tests. */
  timers?: TimerSource;
}

function requestOf(data: unknown): { token: unknown; lastSeq: number } | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const { token, last_seq: lastSeq } = data as { token?: unknown; last_seq?: unknown };
  if (typeof lastSeq !== "number" || !Number.isSafeInteger(lastSeq) || lastSeq < 0) {
    return undefined;
  }
  return { token, lastSeq };
}

/** Resumes sessions; see the module doc. */
export class SessionResumer implements SessionEvents, SessionHandover, Disposable {
  readonly #sessions: SessionManager;
  readonly #writer: SessionWriter;
  readonly #memberships: Memberships;
  readonly #tokens: ResumeTokens;
  readonly #windowMs: number;
  readonly #auth: ResumedAuth | undefined;
  readonly #remote: RemoteSessions | undefined;
  readonly #events: SessionResumerOptions["events"];
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #wheel: DeadlineWheel<Session>;
  /** New connections whose `resume` is being handled. */
  readonly #resuming = new Set<Session>();
  /** Takeovers from other nodes under way, by session id. */
  readonly #takeovers = new Map<string, Promise<void>>();

  /** Creates the resumer; dispose it to stop its timer. */
  constructor(options: SessionResumerOptions) {
    this.#sessions = options.sessions;
    this.#writer = options.writer;
    this.#memberships = options.memberships;
    this.#tokens = options.tokens;
    this.#windowMs = options.windowMs;
    this.#auth = options.auth;
    this.#remote = options.remote;
    this.#events = options.events;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#wheel = new DeadlineWheel((session) => this.#expire(session), {
      tickMs: TICK_MS,
      now: options.now,
      timers: options.timers,
    });
    this.#writer.onResumeOverflow((session) => {
      this.#logger.info("resume buffer overflowed; session ended", { session: session.id });
      this.#sessions.end(session, DisconnectResumeOverflow);
    });
  }

  /** Detached sessions waiting to be resumed here. */
  get pendingWindows(): number {
    return this.#wheel.size;
  }

  /** Answers `hello`: a resume token for the session, which is resumable from now on. */
  hello(session: Session, id: number): void {
    const token = this.#tokens.issue(session);
    this.#writer.writeControl(
      session,
      encodeResponse(id, { session: session.id, resume_token: token, seq: session.resume!.seq }),
    );
  }

  /** Answers `resume` (`data`: `{token, last_seq}`) on a new connection's `session`. */
  resume(session: Session, id: number, data: unknown): void {
    const request = requestOf(data);
    if (request === undefined) return this.#fail(session, id, "malformed");
    if (this.#resuming.has(session) || !this.#pristine(session)) {
      return this.#fail(session, id, "not_first");
    }
    const token = parseResumeToken(request.token);
    if (token === undefined) return this.#fail(session, id, "bad_token");
    this.#resuming.add(session);
    this.#resume(session, id, token, request.lastSeq)
      .catch((error) => {
        this.#logger.error("resume failed", { session: session.id, error });
        this.#fail(session, id, "node_unreachable");
      })
      .finally(() => this.#resuming.delete(session));
  }

  /** Starts a detached session's resume window. */
  onSessionDetached = (session: Session): void => {
    this.#wheel.set(session, this.#now() + this.#windowMs);
    this.#logger.debug("session detached", { session: session.id });
  };

  /** Forgets an ended session's window. */
  onSessionClosed = (session: Session): void => {
    this.#wheel.delete(session);
  };

  /** See {@linkcode SessionHandover.identify}. */
  identify(
    sessionId: string,
    secret: string,
    lastSeq: number,
  ): IdentifyResult {
    const session = this.#sessions.get(sessionId);
    const reason = this.#check(session, secret, lastSeq);
    if (reason !== undefined) return { ok: false, reason };
    // Its old connection is a half-open one the client has left: close it, keep the session.
    if (session!.state === "live") this.#sessions.close(session!, DisconnectResumedElsewhere);
    return { ok: true, identity: this.#identity(session!) };
  }

  /** See {@linkcode SessionHandover.handOver}. */
  handOver(
    sessionId: string,
    secret: string,
    lastSeq: number,
    send: (snapshot: SessionSnapshot) => boolean,
  ): true | ResumeFailure {
    const session = this.#sessions.get(sessionId);
    const reason = this.#check(session, secret, lastSeq);
    if (reason !== undefined) return { ok: false, reason };
    const buffer = session!.resume!;
    const snapshot: SessionSnapshot = {
      ...this.#identity(session!),
      authenticated: session!.authenticated,
      claims: session!.claims,
      tokenExpiresAt: session!.tokenExpiresAt === Infinity ? null : session!.tokenExpiresAt,
      expiryNoticed: session!.expiryNoticed,
      data: [...session!.data ?? []],
      seq: buffer.seq,
      messages: buffer.after(lastSeq)!,
      messagesIn: session!.messagesIn,
      messagesOut: session!.messagesOut,
      bytesIn: session!.bytesIn,
      bytesOut: session!.bytesOut,
      protocolErrors: session!.protocolErrors,
    };
    if (!send(snapshot)) return { ok: false, reason: "node_unreachable" };
    session!.resume = undefined;
    this.#sessions.end(session!, DisconnectResumedElsewhere);
    this.#logger.info("session handed over", {
      session: sessionId,
      messages: snapshot.messages.length,
    });
    return true;
  }

  /** Stops the timer. */
  [Symbol.dispose](): void {
    this.#wheel.stop();
  }

  async #resume(
    session: Session,
    id: number,
    token: ResumeToken,
    lastSeq: number,
  ): Promise<void> {
    // A takeover of this session under way here (a client that came back twice): let it end.
    const underWay = this.#takeovers.get(token.session);
    if (underWay !== undefined) await underWay;
    if (!this.#isOpen(session)) return;
    const local = this.#sessions.get(token.session);
    if (local !== undefined) {
      const reason = local === session ? "bad_token" : this.#check(local, token.secret, lastSeq);
      if (reason !== undefined) return this.#fail(session, id, reason);
      this.#adopt(session, id, local, lastSeq);
      return;
    }
    if (token.node === this.#tokens.nodeId) return this.#fail(session, id, "unknown_session");
    if (this.#remote === undefined) return this.#fail(session, id, "node_unreachable");
    const done = this.#takeOver(session, id, token, lastSeq);
    this.#takeovers.set(token.session, done);
    try {
      await done;
    } finally {
      if (this.#takeovers.get(token.session) === done) this.#takeovers.delete(token.session);
    }
  }

  /** Moves the session from the node the token names to this one, then resumes it. */
  async #takeOver(
    session: Session,
    id: number,
    token: ResumeToken,
    lastSeq: number,
  ): Promise<void> {
    const remote = this.#remote!;
    const prepared = await remote.prepare(token, lastSeq);
    if (!prepared.ok) return this.#fail(session, id, prepared.reason);
    const { identity } = prepared;
    const held = identity.id === token.session
      ? this.#sessions.restore(identity.id, identity.kind, identity.createdAt)
      : undefined;
    if (held === undefined) return this.#fail(session, id, "unknown_session");
    // Pushes to its groups and user reach this node from now on; they wait, unstamped.
    held.resume = ResumeBuffer.holding(this.#tokens.limits, token.secret);
    if (identity.userId !== undefined) this.#memberships.bindUser(held, identity.userId);
    for (const group of identity.groups) this.#memberships.join(held, group);
    const committed = await remote.commit(token, lastSeq);
    if (!committed.ok) {
      this.#sessions.end(held, DisconnectResumedElsewhere);
      return this.#fail(session, id, committed.reason);
    }
    const reason = this.#complete(held, committed.snapshot, committed.covered, lastSeq);
    if (reason !== undefined) {
      this.#sessions.end(held, DisconnectResumeOverflow);
      return this.#fail(session, id, reason);
    }
    if (!this.#isOpen(held)) return this.#fail(session, id, "overflow");
    this.#logger.info("session taken over", { session: held.id, from: token.node });
    if (this.#isOpen(session) && this.#pristine(session)) {
      this.#adopt(session, id, held, lastSeq);
    } else {
      // The new connection went meanwhile: the session waits here, under the same token, for
      // the client to retry.
      this.#wheel.set(held, this.#now() + this.#windowMs);
    }
  }

  /**
   * Fills a session moved here with the old node's snapshot, then stamps what this node held
   * meanwhile and the old node had not: the old node's messages come first, then ours, so
   * each publisher's pushes stay in order.
   */
  #complete(
    held: Session,
    snapshot: SessionSnapshot,
    covered: (origin: PushOrigin) => boolean,
    lastSeq: number,
  ): ResumeFailureReason | undefined {
    held.authenticated = snapshot.authenticated;
    held.claims = snapshot.claims;
    held.tokenExpiresAt = snapshot.tokenExpiresAt ?? Infinity;
    held.expiryNoticed = snapshot.expiryNoticed;
    held.data = snapshot.data.length > 0 ? new Map(snapshot.data) : undefined;
    held.messagesIn = snapshot.messagesIn;
    held.messagesOut = snapshot.messagesOut;
    held.bytesIn = snapshot.bytesIn;
    held.bytesOut = snapshot.bytesOut;
    held.protocolErrors = snapshot.protocolErrors;
    // Changes between the two steps (a request of the old connection still in flight).
    if (snapshot.userId !== undefined && snapshot.userId !== held.userId) {
      this.#memberships.bindUser(held, snapshot.userId);
    }
    const groups = new Set(snapshot.groups);
    for (const group of this.#memberships.groupsOf(held)) {
      if (!groups.has(group)) this.#memberships.leave(held, group);
    }
    for (const group of groups) this.#memberships.join(held, group);
    const holding = held.resume!;
    const { pushes, overflowed } = holding.releaseHeld();
    let buffer: ResumeBuffer | undefined;
    try {
      buffer = ResumeBuffer.restore(
        this.#tokens.limits,
        holding.secret,
        lastSeq,
        snapshot.seq,
        snapshot.messages,
      );
    } catch (error) {
      this.#logger.warn("inconsistent session snapshot", { session: held.id, error });
      return "out_of_range";
    }
    if (buffer === undefined || overflowed) return "overflow";
    held.resume = buffer;
    for (const push of pushes) {
      if (push.origin !== undefined && covered(push.origin)) continue;
      this.#writer.write(held, push.text);
    }
    return undefined;
  }

  /**
   * The new connection's `session` becomes `from`: same id, user, groups, data, auth state and
   * buffer; `from` ends here without a close anyone acts on. Then the answer and the replay go
   * out, before anything else can be written to the session.
   */
  #adopt(session: Session, id: number, from: Session, lastSeq: number): void {
    const buffer = from.resume!;
    const replay = buffer.after(lastSeq)!;
    const groups = [...this.#memberships.groupsOf(from)];
    const userId = from.userId;
    // A reply that comes late for `from` finds the session by id instead (see gateway.ts).
    from.resume = undefined;
    this.#sessions.end(from, DisconnectResumedElsewhere);
    this.#sessions.rekey(session, from.id);
    session.createdAt = from.createdAt;
    session.authenticated = from.authenticated;
    session.claims = from.claims;
    session.tokenExpiresAt = from.tokenExpiresAt;
    session.expiryNoticed = from.expiryNoticed;
    session.data = from.data;
    session.messagesIn += from.messagesIn;
    session.messagesOut += from.messagesOut;
    session.bytesIn += from.bytesIn;
    session.bytesOut += from.bytesOut;
    session.protocolErrors += from.protocolErrors;
    if (userId !== undefined) this.#memberships.bindUser(session, userId);
    for (const group of groups) this.#memberships.join(session, group);
    buffer.trimThrough(lastSeq);
    buffer.attach();
    session.resume = buffer;
    const token = this.#tokens.issue(session);
    this.#auth?.resumed(session);
    this.#writer.writeControl(
      session,
      encodeResponse(id, { session: session.id, resume_token: token, replayed: replay.length }),
    );
    for (const text of replay) this.#writer.replay(session, text);
    this.#events.onResume("ok");
    this.#events.onReplayed(replay.length);
    this.#logger.debug("session resumed", {
      session: session.id,
      transport: session.kind,
      replayed: replay.length,
    });
  }

  /** Why `session` cannot be resumed with `secret` from `lastSeq`, if it cannot. */
  #check(
    session: Session | undefined,
    secret: string,
    lastSeq: number,
  ): ResumeFailureReason | undefined {
    if (session === undefined || this.#takeovers.has(session.id)) return "unknown_session";
    const buffer = session.resume;
    if (buffer === undefined || buffer.holding || !secretsMatch(buffer.secret, secret)) {
      return "bad_token";
    }
    if (buffer.after(lastSeq) === undefined) return "out_of_range";
    return undefined;
  }

  #identity(session: Session): SessionIdentity {
    return {
      id: session.id,
      kind: session.kind,
      createdAt: session.createdAt,
      userId: session.userId,
      groups: [...this.#memberships.groupsOf(session)],
    };
  }

  /** A new connection's session that has done nothing yet: the only kind that may resume. */
  #pristine(session: Session): boolean {
    return session.state === "live" && session.resume === undefined &&
      session.userId === undefined && session.data === undefined &&
      this.#memberships.groupsOf(session).length === 0;
  }

  #isOpen(session: Session): boolean {
    return this.#sessions.get(session.id) === session;
  }

  #expire(session: Session): void {
    if (!this.#isOpen(session) || session.state !== "detached") return;
    this.#logger.info("resume window passed; session ended", { session: session.id });
    this.#sessions.end(session, DisconnectResumeExpired);
  }

  #fail(session: Session, id: number, reason: ResumeFailureReason): void {
    this.#events.onResume(reason);
    this.#logger.info("resume failed", { session: session.id, reason });
    if (!this.#isOpen(session)) return;
    this.#events.onErrorReplied(ErrorCode.resumeFailed);
    this.#writer.writeControl(session, encodeResumeFailed(id, reason));
  }
}
