/**
 * The admin API across a cluster: every gateway node the registry knows is asked on its own
 * subject, `P.admin.<node id>`, with a NATS request, all at once; each answers for its own
 * sessions. This node answers itself directly, so it still answers while NATS is down. A node
 * that does not answer within the scatter timeout (gone, frozen, NATS partitioned) is named in
 * the result rather than waited for.
 *
 * Anyone on NATS can publish on these subjects, as on every other: NATS is the cluster's
 * trusted bus. The requests are still checked field by field before anything runs.
 *
 * @module
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import type { Logger } from "../core/logger.ts";
import {
  type AdminCluster,
  type AdminNodeInfo,
  type AdminNodesView,
  scatter,
  type ScatterResult,
} from "../ops/admin_cluster.ts";
import {
  type AdminNode,
  type NodeReply,
  type NodeRequest,
  parseNodeReply,
  parseNodeRequest,
} from "../ops/admin_node.ts";
import { decodeJson, encodeJson, type Subjects } from "./cluster_protocol.ts";
import type { NatsLink } from "./nats_link.ts";
import type { ClusterRegistry } from "./registry.ts";

/** Options for {@linkcode NatsAdminCluster}. */
export interface NatsAdminClusterOptions {
  /** This node's admin side. */
  node: AdminNode;
  /** The NATS connection. */
  link: NatsLink;
  /** Which gateway nodes are alive. */
  registry: ClusterRegistry;
  /** Subject names. */
  subjects: Subjects;
  /** How long to wait for each node, ms. */
  timeoutMs: number;
  /** Largest request this node reads; larger ones are answered with an error unread. */
  maxRequestBytes: number;
  /** Where faults are logged. */
  logger: Logger;
}

/** An {@linkcode AdminCluster} over NATS; call {@linkcode subscribe} with each connection. */
export class NatsAdminCluster implements AdminCluster, AsyncDisposable {
  readonly #options: NatsAdminClusterOptions;
  #subscription: Subscription | undefined;

  /** Creates the cluster view; it answers other nodes once subscribed. */
  constructor(options: NatsAdminClusterOptions) {
    this.#options = options;
  }

  /** Starts answering other nodes' admin requests for this node's sessions. */
  subscribe(connection: NatsConnection): void {
    const { node, subjects, logger } = this.#options;
    this.#subscription = connection.subscribe(subjects.admin(node.nodeId), {
      callback: (error, message) => {
        if (error) logger.warn("admin subscription failed", { error });
        else this.#answer(message);
      },
    });
  }

  #answer(message: Msg): void {
    let reply: NodeReply;
    if (message.data.byteLength > this.#options.maxRequestBytes) {
      reply = {
        op: "error",
        message: `The request is larger than ${this.#options.maxRequestBytes} bytes`,
      };
    } else {
      try {
        reply = this.#options.node.execute(parseNodeRequest(decodeJson(message.data)));
      } catch (error) {
        reply = { op: "error", message: (error as Error).message };
      }
    }
    if (reply.op === "error") {
      this.#options.logger.warn("admin request from the cluster refused", { error: reply.message });
    }
    try {
      message.respond(encodeJson(reply));
    } catch (error) {
      // E.g. larger than the server's max_payload: the asking node names this one unreachable.
      this.#options.logger.warn("admin reply could not be sent", { op: reply.op, error });
    }
  }

  /** The live gateway nodes, this one included, sorted by id. */
  gatewayNodes(): string[] {
    const nodes = new Set(this.#options.registry.nodes("gateway").map((node) => node.id));
    nodes.add(this.#options.node.nodeId);
    return [...nodes].sort();
  }

  /** Asks each node on its subject (this one directly) and gathers the answers. */
  ask(requests: ReadonlyMap<string, NodeRequest>): Promise<ScatterResult> {
    const { node: self, link, subjects, timeoutMs, logger } = this.#options;
    const connection = link.connection;
    return scatter(requests, async (node, request) => {
      if (node === self.nodeId) return self.execute(request);
      if (!connection) return undefined;
      try {
        const message = await connection.request(subjects.admin(node), encodeJson(request), {
          timeout: timeoutMs,
        });
        return parseNodeReply(decodeJson(message.data), request.op);
      } catch (error) {
        logger.debug("admin request to a node failed", { node, op: request.op, error });
        return undefined;
      }
    });
  }

  /**
   * Every instance the registry knows: gateway nodes (workers are nodes `<id>-w<n>`) with
   * their session counts as of their latest announcement, this node's counted now, and the
   * service processes.
   */
  nodes(): Promise<AdminNodesView> {
    const { registry, node: self } = this.#options;
    const nodes = registry.nodes().map((instance): AdminNodeInfo => ({
      id: instance.id,
      kind: instance.kind,
      self: instance.self,
      sessions: instance.self ? self.sessionCount : instance.sessions,
      started: instance.started,
      last_seen_ms: instance.last_seen_ms,
      services: instance.services,
    }));
    return Promise.resolve({ nodes, unreachable: [] });
  }

  /** Stops answering other nodes. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
    return Promise.resolve();
  }
}
