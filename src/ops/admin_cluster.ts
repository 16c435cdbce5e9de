/**
 * How the admin API reaches the gateway nodes: every answer comes from the node that holds the
 * sessions, and the API merges them. Implementations: this node alone
 * (`admin_cluster_local.ts`), every gateway node over NATS (`src/cluster/admin_cluster_nats.ts`),
 * the workers of a `--workers` supervisor without NATS (`src/cluster/admin_cluster_workers.ts`).
 *
 * @module
 */
import type { NodeReply, NodeRequest } from "./admin_node.ts";

/** One node's answer. */
export interface NodeAnswer {
  /** The node that answered. */
  node: string;
  /** Its answer. */
  reply: NodeReply;
}

/** What came back from a scatter: the answers, and the nodes that did not answer in time. */
export interface ScatterResult {
  /** Answers, in the order of the nodes asked. */
  answers: NodeAnswer[];
  /** Nodes that did not answer in time (or answered garbage), by id. */
  unreachable: string[];
}

/** A gateway node, a worker or a service process, as `GET /admin/nodes` lists it. */
export interface AdminNodeInfo {
  /** Its id. */
  id: string;
  /** `gateway` (a node or a worker) or `service` (a service process). */
  kind: "gateway" | "service";
  /** Whether it is the node that answered the request. */
  self: boolean;
  /** A gateway's live sessions (as of its latest announcement, in cluster mode). */
  sessions?: number;
  /** When it started, ms since the epoch, where known. */
  started?: number;
  /** Time since its latest announcement, ms (cluster mode). */
  last_seen_ms?: number;
  /** The services it serves, by name (cluster mode). */
  services?: Record<string, string[]>;
}

/** The body of `GET /admin/nodes`. */
export interface AdminNodesView {
  /** Every known node. */
  nodes: AdminNodeInfo[];
  /** Nodes asked for their count that did not answer in time. */
  unreachable: string[];
}

/** The gateway nodes the admin API can ask. */
export interface AdminCluster {
  /** The gateway nodes (this one and workers included), sorted by id. */
  gatewayNodes(): string[];
  /**
   * Sends each node its request and gathers the answers, each node given the scatter timeout;
   * never rejects: a node that fails is listed as unreachable.
   */
  ask(requests: ReadonlyMap<string, NodeRequest>): Promise<ScatterResult>;
  /** Every known node with its session count. */
  nodes(): Promise<AdminNodesView>;
}

/**
 * Asks every node its request with `askNode`, all at once, and gathers the answers in the order
 * of `requests`; a node for which `askNode` resolves `undefined` is listed as unreachable.
 */
export async function scatter(
  requests: ReadonlyMap<string, NodeRequest>,
  askNode: (node: string, request: NodeRequest) => Promise<NodeReply | undefined>,
): Promise<ScatterResult> {
  const settled = await Promise.all(
    [...requests].map(async ([node, request]) => ({ node, reply: await askNode(node, request) })),
  );
  const answers: NodeAnswer[] = [];
  const unreachable: string[] = [];
  for (const { node, reply } of settled) {
    if (reply === undefined) unreachable.push(node);
    else answers.push({ node, reply });
  }
  return { answers, unreachable };
}
