/**
 * Player authentication (`auth.mode: "jwt"`): the state machine of a session from connect to
 * a verified user, and on to a refreshed or expired token.
 *
 * - A new session is unauthenticated; the pipeline answers everything but `ping` and `auth`
 *   with `unauthenticated`. Without a successful `auth` within `timeout_ms` it is closed (4501).
 * - `auth` carries a token. A refused one gets `unauthorized` and a close (4500). An accepted one
 *   binds the session to the token's `sub`, after the login registry has settled duplicates.
 * - Later `auth`s refresh the token (same `sub` only). Before the token runs out the session gets
 *   an `auth.expiring` push; at its `exp` plus the leeway, it is closed (4003).
 *
 * `auth` messages of one session are handled one after the other, in the order they came. Time
 * limits ride one {@linkcode DeadlineWheel} for all sessions: an established session costs no
 * timer and no closure.
 *
 * @module
 */
import { DeadlineWheel, type TimerSource } from "./deadline_wheel.ts";
import {
  type Disconnect,
  DisconnectAlreadyLoggedIn,
  DisconnectAuthTimeout,
  DisconnectLoggedInElsewhere,
  DisconnectTokenExpired,
  DisconnectUnauthorized,
} from "./disconnect.ts";
import type { AuthEvents, AuthResult, ErrorRepliedHandler } from "./events.ts";
import type { Logger } from "./logger.ts";
import type { LoginRegistry } from "./login_registry.ts";
import { encodeError, encodePush, encodeResponse, ErrorCode } from "./protocol.ts";
import type { ResumeTokens } from "./resume_token.ts";
import type { Session } from "./session.ts";
import type { ResumedAuth } from "./session_resumer.ts";
import type { SessionEvents, SessionManager } from "./session_manager.ts";
import type { SessionWriter } from "./session_writer.ts";
import {
  type TokenFault,
  TokenRejectedError,
  type TokenVerifier,
  type VerifiedToken,
} from "./token_verifier.ts";

/** The route of the push that tells a client its token runs out soon. */
export const EXPIRING_ROUTE = "auth.expiring";

/** Resolution of the auth timeout and expiry checks, in ms. */
const TICK_MS = 100;

/** Binds a session to its user, so pushes to the user reach it (the hub). */
export interface UserBinder {
  /** Marks `session` as belonging to `userId`. */
  bindUser(session: Session, userId: string): void;
}

/** Options for {@linkcode Authenticator}. */
export interface AuthenticatorOptions {
  /** Checks tokens; a promise while the key is still loading. */
  verifier: TokenVerifier | Promise<TokenVerifier>;
  /** Settles duplicate logins; absent with `duplicate_login: "allow"`. */
  logins?: LoginRegistry;
  /** The session registry, to close sessions. */
  sessions: SessionManager;
  /** Where replies and pushes go out. */
  writer: SessionWriter;
  /** Binds sessions to users. */
  users: UserBinder;
  /** How long a session may stay unauthenticated, ms. */
  timeoutMs: number;
  /** How long before its token runs out a session gets `auth.expiring`, seconds. */
  expiryNoticeSec: number;
  /** Clock skew tolerated on `exp`, seconds; the session closes at `exp` plus this. */
  leewaySec: number;
  /** Observers of outcomes (metrics). */
  events: AuthEvents & { onErrorReplied: ErrorRepliedHandler };
  /** Where refusals and closes are logged (never tokens). */
  logger: Logger;
  /** Clock, ms since the epoch; injectable for tests. */
  now?: () => number;
  /** Timer source; injectable for tests. */
  timers?: TimerSource;
  /**
   * With resume on: each accepted `auth` makes the session resumable and its response carries
   * a `resume_token`.
   */
  resumeTokens?: ResumeTokens;
}

function tokenOf(data: unknown): string | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const token = (data as { token?: unknown }).token;
  return typeof token === "string" && token.length > 0 ? token : undefined;
}

/** Authenticates sessions with tokens; see the module doc for the states. */
export class Authenticator implements SessionEvents, ResumedAuth, Disposable {
  readonly #verifier: Promise<TokenVerifier>;
  readonly #logins: LoginRegistry | undefined;
  readonly #sessions: SessionManager;
  readonly #writer: SessionWriter;
  readonly #users: UserBinder;
  readonly #timeoutMs: number;
  readonly #noticeMs: number;
  readonly #leewayMs: number;
  readonly #events: AuthenticatorOptions["events"];
  readonly #logger: Logger;
  readonly #wheel: DeadlineWheel<Session>;
  readonly #resumeTokens: ResumeTokens | undefined;
  /** The last `auth` of a session still being handled, so the next waits for it. */
  readonly #inFlight = new Map<Session, Promise<void>>();

  /** Creates the authenticator; dispose it to stop its timer. */
  constructor(options: AuthenticatorOptions) {
    this.#verifier = Promise.resolve(options.verifier);
    // A key that fails to load is reported by whoever started the gateway (`ready`).
    this.#verifier.catch(() => {});
    this.#logins = options.logins;
    this.#sessions = options.sessions;
    this.#writer = options.writer;
    this.#users = options.users;
    this.#timeoutMs = options.timeoutMs;
    this.#noticeMs = options.expiryNoticeSec * 1000;
    this.#leewayMs = options.leewaySec * 1000;
    this.#events = options.events;
    this.#logger = options.logger;
    this.#resumeTokens = options.resumeTokens;
    this.#wheel = new DeadlineWheel((session, now) => this.#due(session, now), {
      tickMs: TICK_MS,
      now: options.now,
      timers: options.timers,
    });
  }

  /** Sessions with a pending time limit (auth timeout, expiry notice or expiry). */
  get pendingDeadlines(): number {
    return this.#wheel.size;
  }

  /** Takes a new session in: unauthenticated, with `timeout_ms` to authenticate. */
  admit(session: Session): void {
    session.authenticated = false;
    this.#wheel.set(session, this.#nextCheck(session));
  }

  /** Handles an `auth` envelope (with its `id`) after any earlier one of the same session. */
  receive(session: Session, id: number, data: unknown): void {
    const previous = this.#inFlight.get(session);
    const next = (previous ?? Promise.resolve())
      .then(() => this.#authenticate(session, id, data))
      .catch((error) => {
        this.#logger.error("auth failed", { session: session.id, error });
        this.#refuse(session, id, "bad_token", "unverifiable");
      })
      .finally(() => {
        if (this.#inFlight.get(session) === next) this.#inFlight.delete(session);
      });
    this.#inFlight.set(session, next);
  }

  /** Ends a session that lost to another login of its user (the login registry calls it). */
  evict = (session: Session, disconnect: Disconnect): void => {
    const result: AuthResult = disconnect === DisconnectLoggedInElsewhere
      ? "duplicate_kicked"
      : "duplicate_rejected";
    this.#events.onAuth(result);
    this.#logger.info("duplicate login", { session: session.id, user: session.userId, result });
    this.#close(session, disconnect);
  };

  /**
   * A new connection resumed an authenticated session (same id, user and token expiry): its
   * deadline follows the token again, and it claims the user's login, which the session held
   * until it moved (a login elsewhere meanwhile settles as any duplicate does).
   */
  resumed(session: Session): void {
    this.#wheel.set(session, this.#nextCheck(session));
    const userId = session.userId;
    if (!session.authenticated || userId === undefined || !this.#logins) return;
    this.#logins.claim(session, userId).then((ok) => {
      if (ok || !this.#isOpen(session)) return;
      this.#events.onAuth("duplicate_rejected");
      this.#logger.info("resumed session lost to another login", {
        session: session.id,
        user: userId,
      });
      this.#close(session, DisconnectAlreadyLoggedIn);
    }, (error) => this.#logger.error("login claim failed", { session: session.id, error }));
  }

  /** Forgets a closed session's deadline and login. */
  onSessionClosed = (session: Session): void => {
    this.#wheel.delete(session);
    if (session.authenticated && session.userId !== undefined) {
      this.#logins?.release(session, session.userId);
    }
  };

  /** Stops the timer. */
  [Symbol.dispose](): void {
    this.#wheel.stop();
  }

  async #authenticate(session: Session, id: number, data: unknown): Promise<void> {
    if (!this.#isOpen(session)) return;
    const token = tokenOf(data);
    if (token === undefined) {
      this.#refuse(session, id, "bad_token", "malformed", "auth data is not {token: string}");
      return;
    }
    let verified: VerifiedToken;
    try {
      verified = await (await this.#verifier).verify(token);
    } catch (error) {
      if (!(error instanceof TokenRejectedError)) throw error;
      const result = error.fault === "expired" ? "expired" : "bad_token";
      this.#refuse(session, id, result, error.fault, error.message);
      return;
    }
    if (!this.#isOpen(session)) return;
    if (session.authenticated) {
      this.#refresh(session, id, verified);
      return;
    }
    const { userId } = verified;
    if (this.#logins && !await this.#logins.claim(session, userId)) {
      if (!this.#isOpen(session)) return;
      this.#events.onAuth("duplicate_rejected");
      this.#logger.info("duplicate login refused", { session: session.id, user: userId });
      this.#reply(session, ErrorCode.alreadyLoggedIn, "This user is already logged in", id);
      this.#close(session, DisconnectAlreadyLoggedIn);
      return;
    }
    if (!this.#isOpen(session)) {
      this.#logins?.release(session, userId);
      return;
    }
    this.#users.bindUser(session, userId);
    session.authenticated = true;
    this.#accept(session, id, verified);
  }

  #refresh(session: Session, id: number, verified: VerifiedToken): void {
    if (verified.userId !== session.userId) {
      this.#refuse(
        session,
        id,
        "bad_token",
        "other_user",
        `refresh for user ${verified.userId} on a session of ${session.userId}`,
      );
      return;
    }
    this.#accept(session, id, verified);
  }

  #accept(session: Session, id: number, verified: VerifiedToken): void {
    const exp = verified.expiresAtSec;
    session.claims = verified.claims;
    session.tokenExpiresAt = exp === undefined ? Infinity : exp * 1000 + this.#leewayMs;
    session.expiryNoticed = false;
    this.#wheel.set(session, this.#nextCheck(session));
    this.#events.onAuth("ok");
    this.#logger.debug("authenticated", { session: session.id, user: verified.userId, exp });
    const resumeToken = this.#resumeTokens?.issue(session);
    // Handshake answers belong to the connection: no `seq`, never replayed.
    this.#writer.writeControl(
      session,
      encodeResponse(id, {
        user: verified.userId,
        session: session.id,
        exp,
        ...(resumeToken !== undefined && { resume_token: resumeToken }),
      }),
    );
  }

  /** When the session must be looked at next; Infinity for never. */
  #nextCheck(session: Session): number {
    if (!session.authenticated) return session.createdAt + this.#timeoutMs;
    return session.expiryNoticed ? session.tokenExpiresAt : session.tokenExpiresAt - this.#noticeMs;
  }

  /** A session's deadline passed; everything is read from the session, so a stale call is safe. */
  #due(session: Session, now: number): void {
    if (!this.#isOpen(session)) return;
    if (!session.authenticated) {
      if (now >= session.createdAt + this.#timeoutMs) {
        this.#events.onAuth("timeout");
        this.#logger.info("auth timed out", { session: session.id, timeout_ms: this.#timeoutMs });
        this.#close(session, DisconnectAuthTimeout);
        return;
      }
    } else if (now >= session.tokenExpiresAt) {
      this.#logger.info("token expired", { session: session.id, user: session.userId });
      this.#close(session, DisconnectTokenExpired);
      return;
    } else if (!session.expiryNoticed && now >= session.tokenExpiresAt - this.#noticeMs) {
      session.expiryNoticed = true;
      this.#writer.sendPush(session, encodePush(EXPIRING_ROUTE, { exp: session.claims?.exp }));
    }
    this.#wheel.set(session, this.#nextCheck(session));
  }

  #refuse(
    session: Session,
    id: number,
    result: "bad_token" | "expired",
    fault: TokenFault | "other_user",
    detail?: string,
  ): void {
    if (!this.#isOpen(session)) return;
    this.#events.onAuth(result);
    this.#logger.warn("auth refused", { session: session.id, reason: fault, detail });
    this.#reply(
      session,
      ErrorCode.unauthorized,
      result === "expired" ? "The token has expired; get a new one" : "The token was refused",
      id,
    );
    this.#close(session, DisconnectUnauthorized);
  }

  #reply(session: Session, code: ErrorCode, message: string, id: number): void {
    this.#events.onErrorReplied(code);
    this.#writer.writeControl(session, encodeError(code, message, id));
  }

  #close(session: Session, disconnect: Disconnect): void {
    if (this.#sessions.close(session, disconnect)) {
      this.#logger.info("session closed", {
        session: session.id,
        code: disconnect.code,
        reason: disconnect.label,
      });
    }
  }

  #isOpen(session: Session): boolean {
    return this.#sessions.get(session.id) === session;
  }
}
