/**
 * The order of logins across gateway nodes. Every login gets a stamp from a hybrid logical
 * clock, and every node compares stamps the same way, so all of them agree which of two logins
 * of one user came first without asking each other.
 *
 * A hybrid logical clock follows wall time but never goes backwards, and a stamp taken after a
 * node has seen another node's stamp is later than it, whatever the two machines' clocks say. So
 * a login that follows an announced one (the usual case: the player logs in again) always
 * compares as newer, and only truly simultaneous logins are ordered by the clocks and, at a tie,
 * by session id.
 *
 * @module
 */

/** When a login happened, as a total order: wall time, a counter, then the session id. */
export interface LoginStamp {
  /** Wall-clock part, ms since the epoch (never below any stamp the node has seen). */
  readonly wall: number;
  /** Logical part: orders stamps taken within one `wall` value. */
  readonly counter: number;
  /** The session that logged in; breaks ties between nodes. */
  readonly session: string;
}

/** Negative when `a` came before `b`, positive when after, 0 only for the same session. */
export function compareLogins(a: LoginStamp, b: LoginStamp): number {
  if (a.wall !== b.wall) return a.wall - b.wall;
  if (a.counter !== b.counter) return a.counter - b.counter;
  return a.session < b.session ? -1 : a.session > b.session ? 1 : 0;
}

/** A hybrid logical clock that stamps logins. */
export class HybridClock {
  readonly #now: () => number;
  #wall = 0;
  #counter = 0;

  /** Creates a clock over `now` (ms since the epoch; injectable for tests). */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A stamp later than every stamp taken or seen before. */
  stamp(session: string): LoginStamp {
    const now = this.#now();
    if (now > this.#wall) {
      this.#wall = now;
      this.#counter = 0;
    } else {
      this.#counter++;
    }
    return { wall: this.#wall, counter: this.#counter, session };
  }

  /** Takes in another node's stamp, so that later stamps here compare as newer than it. */
  observe(stamp: { readonly wall: number; readonly counter: number }): void {
    if (stamp.wall > this.#wall || (stamp.wall === this.#wall && stamp.counter > this.#counter)) {
      this.#wall = stamp.wall;
      this.#counter = stamp.counter;
    }
  }
}
