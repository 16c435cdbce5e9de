/**
 * The admin API's cluster when there is none: this node answers for itself.
 *
 * @module
 */
import type { AdminCluster, AdminNodesView, ScatterResult } from "./admin_cluster.ts";
import type { AdminNode, NodeRequest } from "./admin_node.ts";

/** An {@linkcode AdminCluster} of one node, this one. */
export class LocalAdminCluster implements AdminCluster {
  readonly #node: AdminNode;

  /** Answers with `node` alone. */
  constructor(node: AdminNode) {
    this.#node = node;
  }

  /** This node. */
  gatewayNodes(): string[] {
    return [this.#node.nodeId];
  }

  /** Runs the request meant for this node, if any. */
  ask(requests: ReadonlyMap<string, NodeRequest>): Promise<ScatterResult> {
    const request = requests.get(this.#node.nodeId);
    const answers = request
      ? [{ node: this.#node.nodeId, reply: this.#node.execute(request) }]
      : [];
    return Promise.resolve({ answers, unreachable: [] });
  }

  /** This node and its session count. */
  nodes(): Promise<AdminNodesView> {
    return Promise.resolve({
      nodes: [{
        id: this.#node.nodeId,
        kind: "gateway",
        self: true,
        sessions: this.#node.sessionCount,
      }],
      unreachable: [],
    });
  }
}
