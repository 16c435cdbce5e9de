/**
 * One session per user across every gateway node (and `--workers` process), over plain NATS
 * subjects: no shared store, no leader, no lock.
 *
 * Every node announces each login it accepts on `P.auth.login`, stamped by a hybrid logical
 * clock (`login_clock.ts`). A node that hears of a login of a user it also holds compares the
 * two stamps; every node compares the same stamps the same way, so all agree on the one winner
 * (the newer login under `kick_old`, the older under `reject_new`). The loser's node closes it;
 * a winner's node announces its winner again, so the loser's node learns of it too even if it
 * never heard the winner's first announcement.
 *
 * - `kick_old`: the login is accepted at once and announced; older sessions elsewhere close
 *   (4502) when the announcement arrives. Two simultaneous logins of one user on two nodes are
 *   both accepted and both announced; each node then closes the one with the older stamp, so
 *   exactly one remains. No node needs to know which nodes are alive: a dead node holds nothing.
 * - `reject_new`: before it answers, the login asks every node (`P.auth.query`, for
 *   `auth.duplicate_wait_ms`) whether it holds the user, and is refused if any answer is older.
 *   A node that is dead simply does not answer, so a stale claim never blocks a user. Answers
 *   that come too late, or a NATS outage, can let a newer login through; its announcement then
 *   meets the older session's, and the newer one is closed (4503).
 * - NATS down: logins are checked on this node only (logged once per outage). When NATS is back,
 *   the node announces every login it holds again, and duplicates across the outage are settled
 *   as above.
 *
 * @module
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { decodeJson, encodeJson, type LoginTuple, type Subjects } from "./cluster_protocol.ts";
import { compareLogins, type LoginStamp } from "../core/login_clock.ts";
import type {
  DuplicatePolicy,
  LoginEvictedHandler,
  LoginRegistry,
} from "../core/login_registry.ts";
import { LocalLoginRegistry, type LoginEntry } from "../core/login_registry_local.ts";
import type { Logger } from "../core/logger.ts";
import type { NatsLink } from "./nats_link.ts";
import type { Session } from "../core/session.ts";

/** Logins per announcement when a node announces all of its logins again. */
const ANNOUNCE_BATCH = 256;

/** Options for {@linkcode NatsLoginRegistry}. */
export interface NatsLoginRegistryOptions {
  /** Which login wins. */
  policy: DuplicatePolicy;
  /** Ends sessions that lost. */
  evict: LoginEvictedHandler;
  /** The NATS connection. */
  link: NatsLink;
  /** Subject names. */
  subjects: Subjects;
  /** `reject_new`: how long a login waits for other nodes' answers, ms. */
  waitMs: number;
  /** Where outages and malformed messages are logged. */
  logger: Logger;
  /** Clock, ms since the epoch; injectable for tests. */
  now?: () => number;
}

function tupleOf(entry: LoginEntry): LoginTuple {
  return [entry.userId, entry.session.id, entry.stamp.wall, entry.stamp.counter];
}

function isTuple(value: unknown): value is LoginTuple {
  return Array.isArray(value) && value.length === 4 && typeof value[0] === "string" &&
    typeof value[1] === "string" && Number.isFinite(value[2]) && Number.isFinite(value[3]);
}

/** A {@linkcode LoginRegistry} shared by every node on one NATS. */
export class NatsLoginRegistry implements LoginRegistry {
  readonly #local: LocalLoginRegistry;
  readonly #options: NatsLoginRegistryOptions;
  #subscriptions: Subscription[] = [];
  #localOnly = false;
  /** Logins checked on this node only because NATS was down. */
  localOnlyClaims = 0;

  /** Creates the registry; call {@linkcode subscribe} with each new connection. */
  constructor(options: NatsLoginRegistryOptions) {
    this.#options = options;
    this.#local = new LocalLoginRegistry({
      policy: options.policy,
      evict: options.evict,
      now: options.now,
    });
  }

  /** Listens for other nodes' logins and queries, and announces this node's logins. */
  subscribe(connection: NatsConnection): void {
    const { subjects, logger } = this.#options;
    const listen = (subject: string, handle: (message: Msg) => void) =>
      connection.subscribe(subject, {
        callback: (error, message) => {
          if (error) logger.warn("login subscription failed", { subject, error });
          else handle(message);
        },
      });
    this.#subscriptions = [
      listen(subjects.logins, (message) => this.#heard(message)),
      listen(subjects.loginQuery, (message) => this.#asked(message)),
    ];
    this.reconnected();
  }

  /** NATS is back: announces every login held here, so duplicates across the outage settle. */
  reconnected(): void {
    if (this.#localOnly) {
      this.#localOnly = false;
      this.#options.logger.info("NATS is back; announcing this node's logins again", {
        logins: this.#local.size,
      });
    }
    let batch: LoginEntry[] = [];
    for (const entry of this.#local.live()) {
      batch.push(entry);
      if (batch.length === ANNOUNCE_BATCH) {
        this.#announce(batch);
        batch = [];
      }
    }
    if (batch.length > 0) this.#announce(batch);
  }

  /** Claims `userId` for `session` on every node; see {@linkcode LoginRegistry.claim}. */
  async claim(session: Session, userId: string): Promise<boolean> {
    const entry = this.#local.begin(session, userId);
    if (!entry) return false;
    const connection = this.#options.link.connection;
    if (!connection) {
      this.#noteLocalOnly();
      return this.#local.confirm(entry);
    }
    if (this.#local.policy === "reject_new") {
      if (await this.#olderElsewhere(connection, entry.stamp, userId)) {
        this.#local.abandon(entry);
        return false;
      }
      // False when an older login was announced while this one waited.
      if (!this.#local.confirm(entry)) return false;
    }
    this.#announce([entry]);
    return true;
  }

  /** Forgets `session`'s claim; other nodes need not hear of it, as they keep no copy. */
  release(session: Session, userId: string): void {
    this.#local.release(session, userId);
  }

  /** Stops listening. */
  [Symbol.asyncDispose](): Promise<void> {
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    this.#subscriptions = [];
    return Promise.resolve();
  }

  #noteLocalOnly(): void {
    this.localOnlyClaims++;
    if (this.#localOnly) return;
    this.#localOnly = true;
    this.#options.logger.warn(
      "NATS is down; duplicate logins are checked on this node only until it is back",
    );
  }

  #announce(entries: LoginEntry[]): void {
    const connection = this.#options.link.connection;
    if (!connection) {
      this.#noteLocalOnly();
      return;
    }
    try {
      connection.publish(this.#options.subjects.logins, encodeJson(entries.map(tupleOf)));
    } catch (error) {
      this.#options.logger.warn("login announcement failed", { error });
    }
  }

  /** Another node's logins: settle each against this node's claim on the same user. */
  #heard(message: Msg): void {
    let tuples: unknown;
    try {
      tuples = decodeJson<unknown>(message.data);
    } catch (error) {
      this.#options.logger.warn("malformed login announcement dropped", { error });
      return;
    }
    if (!Array.isArray(tuples)) return;
    const winners: LoginEntry[] = [];
    for (const tuple of tuples) {
      if (!isTuple(tuple)) continue;
      const [user, session, wall, counter] = tuple;
      const winner = this.#local.observe(user, { wall, counter, session });
      if (winner?.live) winners.push(winner);
    }
    // Tell the losers' nodes, which may never have heard of these winners.
    if (winners.length > 0) this.#announce(winners);
  }

  /** A `reject_new` login elsewhere asks about its user: answer with this node's claim. */
  #asked(message: Msg): void {
    let tuple: unknown;
    try {
      tuple = decodeJson<unknown>(message.data);
    } catch {
      return;
    }
    if (!isTuple(tuple)) return;
    const [user, session, wall, counter] = tuple;
    // Seen before this node stamps anything else, so its later logins compare as newer.
    this.#local.clock.observe({ wall, counter });
    const entry = this.#local.lookup(user);
    if (!entry || entry.session.id === session) return;
    message.respond(encodeJson(tupleOf(entry)));
  }

  /** Whether any node answers within the wait with a login of `userId` older than `stamp`. */
  async #olderElsewhere(
    connection: NatsConnection,
    stamp: LoginStamp,
    userId: string,
  ): Promise<boolean> {
    let older = false;
    try {
      const answers = await connection.requestMany(
        this.#options.subjects.loginQuery,
        encodeJson([userId, stamp.session, stamp.wall, stamp.counter] satisfies LoginTuple),
        { strategy: "timer", maxWait: this.#options.waitMs },
      );
      for await (const answer of answers) {
        const tuple = decodeJson<unknown>(answer.data);
        if (!isTuple(tuple)) continue;
        const other = { wall: tuple[2], counter: tuple[3], session: tuple[1] };
        this.#local.clock.observe(other);
        if (compareLogins(other, stamp) < 0) older = true;
      }
    } catch (error) {
      // No answer is no objection; the announcements settle what the query missed.
      this.#options.logger.warn("login query failed; relying on announcements", { error });
    }
    return older;
  }
}
