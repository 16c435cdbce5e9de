/**
 * The cluster broker: pushes go to NATS and every gateway node delivers them to its own
 * sessions. While NATS is down, pushes are delivered to this node's sessions only and counted
 * as `degraded`, rather than queued for later: a late game event is worse than a missing one.
 *
 * @module
 */
import { headers, type Msg, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import type { EncodedPush } from "../core/protocol.ts";
import type { Broker } from "../services/broker.ts";
import { PushHeader, type PushTarget, type Subjects } from "./cluster_protocol.ts";
import type { Hub } from "../services/hub.ts";
import type { Logger } from "../core/logger.ts";
import type { NatsLink } from "./nats_link.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A {@linkcode Broker} over NATS. */
export class NatsBroker implements Broker {
  readonly #hub: Hub;
  readonly #link: NatsLink;
  readonly #subjects: Subjects;
  readonly #logger: Logger;
  #subscription: Subscription | undefined;
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
    const push = {
      text: decoder.decode(message.data),
      unreliable: message.headers?.get(PushHeader.unreliable) === "1",
    };
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

  /** Stops receiving pushes. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#subscription?.unsubscribe();
    return Promise.resolve();
  }
}
