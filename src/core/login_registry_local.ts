/**
 * The login registry of one node: at most one session per user here, decided at once. It is
 * the whole registry of a single gateway, and the local half of the NATS registry, which feeds
 * it other nodes' logins through {@linkcode LocalLoginRegistry.observe}.
 *
 * Whichever way two logins of a user meet (both here, or one announced from another node), the
 * winner is decided by their {@linkcode LoginStamp}s alone: the newer under `kick_old`, the
 * older under `reject_new`. Every node compares the same two stamps the same way, so all agree
 * on the one session that stays.
 *
 * @module
 */
import { DisconnectAlreadyLoggedIn, DisconnectLoggedInElsewhere } from "./disconnect.ts";
import { compareLogins, HybridClock, type LoginStamp } from "./login_clock.ts";
import type { DuplicatePolicy, LoginEvictedHandler, LoginRegistry } from "./login_registry.ts";
import type { Session } from "./session.ts";

/** A session's claim on its user on this node. */
export interface LoginEntry {
  /** The claiming session. */
  readonly session: Session;
  /** The user claimed. */
  readonly userId: string;
  /** When it claimed. */
  readonly stamp: LoginStamp;
  /** False while a `reject_new` claim still waits for other nodes' answers. */
  live: boolean;
}

/** Options for {@linkcode LocalLoginRegistry}. */
export interface LocalLoginRegistryOptions {
  /** Which login wins. */
  policy: DuplicatePolicy;
  /** Ends sessions that lost. */
  evict: LoginEvictedHandler;
  /** Clock, ms since the epoch; injectable for tests. */
  now?: () => number;
}

/** One session per user on this node. */
export class LocalLoginRegistry implements LoginRegistry {
  /** Stamps this node's logins; the NATS registry feeds it other nodes' stamps. */
  readonly clock: HybridClock;
  readonly #policy: DuplicatePolicy;
  readonly #evict: LoginEvictedHandler;
  readonly #entries = new Map<string, LoginEntry>();

  /** Creates an empty registry. */
  constructor(options: LocalLoginRegistryOptions) {
    this.#policy = options.policy;
    this.#evict = options.evict;
    this.clock = new HybridClock(options.now);
  }

  /** The policy this registry applies. */
  get policy(): DuplicatePolicy {
    return this.#policy;
  }

  /** Claims on this node, pending ones included. */
  get size(): number {
    return this.#entries.size;
  }

  /** Claims `userId` for `session` on this node; see {@linkcode begin}. */
  claim(session: Session, userId: string): Promise<boolean> {
    const entry = this.begin(session, userId);
    if (entry) entry.live = true;
    return Promise.resolve(entry !== undefined);
  }

  /**
   * Stamps a claim and settles it against this node's claim on the same user, if any: under
   * `kick_old` the older session is evicted and the new entry is live; under `reject_new` the
   * new claim is refused (undefined), or entered as pending for the caller to confirm.
   */
  begin(session: Session, userId: string): LoginEntry | undefined {
    const stamp = this.clock.stamp(session.id);
    const current = this.#entries.get(userId);
    if (current && current.session !== session) {
      // Stamps taken here only grow, so the current claim is the older one.
      if (this.#policy === "reject_new") return undefined;
      this.#entries.delete(userId);
      this.#evict(current.session, DisconnectLoggedInElsewhere);
    }
    const entry: LoginEntry = { session, userId, stamp, live: this.#policy === "kick_old" };
    this.#entries.set(userId, entry);
    return entry;
  }

  /** Makes a pending claim live; false when it lost meanwhile or was released. */
  confirm(entry: LoginEntry): boolean {
    if (this.#entries.get(entry.userId) !== entry) return false;
    entry.live = true;
    return true;
  }

  /** Drops a pending claim that another node's answer refused. */
  abandon(entry: LoginEntry): void {
    if (this.#entries.get(entry.userId) === entry) this.#entries.delete(entry.userId);
  }

  /** This node's claim on `userId`, if any. */
  lookup(userId: string): LoginEntry | undefined {
    return this.#entries.get(userId);
  }

  /** Every live claim on this node (to announce them again after a NATS outage). */
  *live(): IterableIterator<LoginEntry> {
    for (const entry of this.#entries.values()) if (entry.live) yield entry;
  }

  /**
   * Settles another node's login of `userId` against this node's claim. The loser here is
   * evicted (a pending loser is dropped, so its claim resolves refused). Returns this node's
   * entry when it wins, so the caller can tell the other node, and undefined otherwise.
   */
  observe(userId: string, stamp: LoginStamp): LoginEntry | undefined {
    this.clock.observe(stamp);
    const current = this.#entries.get(userId);
    if (!current || current.session.id === stamp.session) return undefined;
    const order = compareLogins(current.stamp, stamp);
    const currentWins = this.#policy === "kick_old" ? order > 0 : order < 0;
    if (currentWins) return current;
    this.#entries.delete(userId);
    if (current.live) {
      this.#evict(
        current.session,
        this.#policy === "kick_old" ? DisconnectLoggedInElsewhere : DisconnectAlreadyLoggedIn,
      );
    }
    return undefined;
  }

  /** Forgets `session`'s claim on `userId`. */
  release(session: Session, userId: string): void {
    if (this.#entries.get(userId)?.session === session) this.#entries.delete(userId);
  }

  /** Nothing to release. */
  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }
}
