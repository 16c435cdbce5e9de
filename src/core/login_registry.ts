/**
 * Who is logged in where, for `auth.duplicate_login`: one session per user, on one node
 * (`login_registry_local.ts`) or across every gateway node over NATS
 * (`src/cluster/login_registry_nats.ts`). The authenticator only sees this interface.
 *
 * @module
 */
import type { Disconnect } from "./disconnect.ts";
import type { Session } from "./session.ts";

/** What to do with a second login of one user: close the older session, or refuse the new. */
export type DuplicatePolicy = "kick_old" | "reject_new";

/** Ends a session that lost to another login of its user, with 4502 or 4503. */
export type LoginEvictedHandler = (session: Session, disconnect: Disconnect) => void;

/** Keeps one session per user. */
export interface LoginRegistry extends AsyncDisposable {
  /**
   * Claims `userId` for `session`, which has just verified its token. Resolves true when the
   * session may go on: under `kick_old` always, and older sessions of the user are evicted
   * (here at once, on other nodes as soon as they hear of it); under `reject_new` only when no
   * older session of the user is known anywhere the registry can ask.
   */
  claim(session: Session, userId: string): Promise<boolean>;
  /** Forgets `session`'s claim on `userId` (the session closed); other claims stay. */
  release(session: Session, userId: string): void;
}
