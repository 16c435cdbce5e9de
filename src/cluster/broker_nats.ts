/**
 * The cluster broker: pushes go to NATS and every gateway node delivers them to its own
 * sessions. While NATS is down, pushes are delivered to this node's sessions only and counted
 * as `degraded`, rather than queued for later: a late game event is worse than a missing one.
 *
 * Every push it publishes carries its origin (`PushSequencer`), and it notes, per publisher, the
 * latest push it has delivered: how far this node has seen the push stream, which a session
 * takeover between nodes compares (`session_takeover_nats.ts`).
 *
 * @module
 */
import { headers, type Msg, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import type { EncodedPush } from "../core/protocol.ts";
import type { Broker } from "../services/broker.ts";
import {
  parseOrigin,
  type PushCuts,
  PushHeader,
  PushSequencer,
  type PushTarget,
  type Subjects,
} from "./cluster_protocol.ts";
import type { Hub } from "../services/hub.ts";
import type { Logger } from "../core/logger.ts";
import type { NatsLink } from "./nats_link.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A publisher silent this long is left out of the cuts a takeover waits for, ms. */
const RECENT_MS = 10_000;
/** A publisher silent this long is forgotten, ms. */
const FORGET_MS = 60_000;

/** The latest push delivered from one publisher. */
interface Seen {
  seq: number;
  at: number;
}

/** A {@linkcode Broker} over NATS. */
export class NatsBroker implements Broker {
  readonly #hub: Hub;
  readonly #link: NatsLink;
  readonly #subjects: Subjects;
  readonly #logger: Logger;
  #subscription: Subscription | undefined;
  readonly #origin = new PushSequencer();
  readonly #seen = new Map<string, Seen>();
  /** Checks of takeovers waiting to have seen as far as another node. */
  readonly #waiters = new Set<() => void>();
  /** Pushes delivered only locally because NATS was down. */
  localOnly = 0;

  /** Creates the broker; call {@linkcode subscribe} with each new connection. */
  constructor(hub: Hub, link: NatsLink, subjects: Subjects, logger: Logger) {
    this.#hub = hub;
    this.#link = link;
    this.#subjects = subjects;
    this.#logger = logger;
  }

  /** Starts delivering the cluster's pushes to this node's sessions. */
  subscribe(connection: NatsConnection): void {
    this.#subscription = connection.subscribe(this.#subjects.push, {
      callback: (error, message) => {
        if (error) this.#logger.warn("push subscription failed", { error });
        else this.#deliver(message);
      },
    });
  }

  #deliver(message: Msg): void {
    const target = message.headers?.get(PushHeader.target) as PushTarget | undefined;
    const key = message.headers?.get(PushHeader.key) ?? "";
    const origin = parseOrigin(message.headers?.get(PushHeader.origin) || undefined);
    const push = {
      text: decoder.decode(message.data),
      unreliable: message.headers?.get(PushHeader.unreliable) === "1",
      origin,
    };
    this.#route(target, key, push, message);
    if (origin === undefined) return;
    const seen = this.#seen.get(origin.publisher);
    if (seen === undefined) this.#seen.set(origin.publisher, { seq: origin.seq, at: Date.now() });
    else {
      seen.seq = origin.seq;
      seen.at = Date.now();
    }
    if (this.#waiters.size > 0) { for (const check of [...this.#waiters]) check(); }
  }

  #route(target: PushTarget | undefined, key: string, push: EncodedPush, message: Msg): void {
    switch (target) {
      case "session":
        this.#hub.deliverToSession(key, push);
        break;
      case "user":
        this.#hub.deliverToUser(key, push);
        break;
      case "group":
        this.#hub.deliverToGroup(key, push, message.headers?.get(PushHeader.except) || undefined);
        break;
      case "all":
        this.#hub.deliverToAll(push);
        break;
      default:
        this.#logger.warn("push with an unknown target dropped", { target });
    }
  }

  #publish(target: PushTarget, key: string, push: EncodedPush, except?: string): boolean {
    const connection = this.#link.connection;
    if (!connection) {
      this.localOnly++;
      return false;
    }
    const h = headers();
    h.set(PushHeader.target, target);
    h.set(PushHeader.key, key);
    if (except) h.set(PushHeader.except, except);
    if (push.unreliable) h.set(PushHeader.unreliable, "1");
    h.set(PushHeader.origin, this.#origin.next());
    try {
      connection.publish(this.#subjects.push, encoder.encode(push.text), { headers: h });
      return true;
    } catch (error) {
      this.#logger.warn("push publish failed; delivering locally", { error });
      this.localOnly++;
      return false;
    }
  }

  /** Pushes to one session, wherever it is. */
  toSession(sessionId: string, push: EncodedPush): void {
    if (!this.#publish("session", sessionId, push)) this.#hub.deliverToSession(sessionId, push);
  }

  /** Pushes to a user's sessions on every node. */
  toUser(userId: string, push: EncodedPush): void {
    if (!this.#publish("user", userId, push)) this.#hub.deliverToUser(userId, push);
  }

  /** Pushes to a group's members on every node. */
  toGroup(group: string, push: EncodedPush, exceptSessionId?: string): void {
    if (!this.#publish("group", group, push, exceptSessionId)) {
      this.#hub.deliverToGroup(group, push, exceptSessionId);
    }
  }

  /** Pushes to every session on every node. */
  toAll(push: EncodedPush): void {
    if (!this.#publish("all", "", push)) this.#hub.deliverToAll(push);
  }

  /** The latest push delivered here from each publisher (forgetting long-silent ones). */
  cuts(): PushCuts {
    const cuts: PushCuts = [];
    const forget = Date.now() - FORGET_MS;
    for (const [publisher, seen] of this.#seen) {
      if (seen.at < forget) this.#seen.delete(publisher);
      else cuts.push([publisher, seen.seq]);
    }
    return cuts;
  }

  /** {@linkcode cuts} of the publishers heard from lately: what another node can catch up on. */
  recentCuts(): PushCuts {
    const cuts: PushCuts = [];
    const recent = Date.now() - RECENT_MS;
    for (const [publisher, seen] of this.#seen) {
      if (seen.at >= recent) cuts.push([publisher, seen.seq]);
    }
    return cuts;
  }

  /**
   * Resolves true once this node has delivered every publisher's pushes up to `cuts`, or false
   * after `timeoutMs`.
   */
  caughtUp(cuts: PushCuts, timeoutMs: number): Promise<boolean> {
    const reached = () =>
      cuts.every(([publisher, seq]) => (this.#seen.get(publisher)?.seq ?? 0) >= seq);
    if (reached()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (caught: boolean) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(caught);
      };
      const check = () => {
        if (reached()) done(true);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#waiters.add(check);
    });
  }

  /** Stops receiving pushes. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#subscription?.unsubscribe();
    return Promise.resolve();
  }
}
