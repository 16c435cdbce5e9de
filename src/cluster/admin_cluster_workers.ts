/**
 * The admin API of a `--workers` supervisor without NATS: the workers are separate nodes that
 * know nothing of each other, so the supervisor asks each one on its private admin listener
 * (`POST /admin/node` on loopback, with an admin token) and the API merges the answers, as it
 * does a cluster's. With NATS the supervisor does not need this: any worker answers for the
 * whole cluster.
 *
 * @module
 */
import type { Logger } from "../core/logger.ts";
import {
  type AdminCluster,
  type AdminNodesView,
  scatter,
  type ScatterResult,
} from "../ops/admin_cluster.ts";
import { type NodeRequest, parseNodeReply } from "../ops/admin_node.ts";

/** One worker as the supervisor knows it. */
export interface WorkerAdminEndpoint {
  /** Its node name in the admin API, e.g. `local-w1`. */
  node: string;
  /** Its private admin port on 127.0.0.1, once it reported ready. */
  port: number | undefined;
}

/** Options for {@linkcode WorkersAdminCluster}. */
export interface WorkersAdminClusterOptions {
  /** The workers now. */
  workers: () => WorkerAdminEndpoint[];
  /** A token the workers accept (they read the same variables); none on an open listener. */
  token: string | undefined;
  /** How long to wait for each worker, ms. */
  timeoutMs: number;
  /** Where faults are logged. */
  logger: Logger;
}

/** An {@linkcode AdminCluster} of a supervisor's workers, over their private listeners. */
export class WorkersAdminCluster implements AdminCluster {
  readonly #options: WorkersAdminClusterOptions;

  /** Creates the view of the workers. */
  constructor(options: WorkersAdminClusterOptions) {
    this.#options = options;
  }

  /** Every worker, sorted by node name. */
  gatewayNodes(): string[] {
    return this.#options.workers().map((worker) => worker.node).sort();
  }

  /** Asks each worker its request and gathers the answers. */
  ask(requests: ReadonlyMap<string, NodeRequest>): Promise<ScatterResult> {
    const ports = new Map(this.#options.workers().map((worker) => [worker.node, worker.port]));
    return scatter(requests, async (node, request) => {
      const port = ports.get(node);
      if (port === undefined) return undefined;
      try {
        const reply = parseNodeReply(await this.#post(port, request), request.op);
        // A worker without a node id of its own calls itself `local`: name it as listed.
        if (reply.op === "list") { for (const session of reply.sessions) session.node = node; }
        if ((reply.op === "get" || reply.op === "kick") && reply.session) {
          reply.session.node = node;
        }
        return reply;
      } catch (error) {
        this.#options.logger.debug("admin request to a worker failed", { node, error });
        return undefined;
      }
    });
  }

  async #post(port: number, request: NodeRequest): Promise<unknown> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.#options.token !== undefined) headers.authorization = `Bearer ${this.#options.token}`;
    const response = await fetch(`http://127.0.0.1:${port}/admin/node`, {
      method: "POST",
      headers,
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(this.#options.timeoutMs),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`The worker answered HTTP ${response.status}`);
    }
    return await response.json();
  }

  /** Every worker with its session count. */
  async nodes(): Promise<AdminNodesView> {
    const nodes = this.gatewayNodes();
    const { answers, unreachable } = await this.ask(
      new Map(nodes.map((node) => [node, { op: "count" } as const])),
    );
    const counts = new Map(
      answers.map(({ node, reply }) => [node, reply.op === "count" ? reply.sessions : undefined]),
    );
    return {
      nodes: nodes.map((node) => ({
        id: node,
        kind: "gateway" as const,
        self: false,
        sessions: counts.get(node),
      })),
      unreachable,
    };
  }
}
