/**
 * What one gateway node does for the admin API: list, describe and kick its own sessions,
 * deliver a push to them, count them. The admin API sends these requests to every node (over
 * NATS in cluster mode, over HTTP to `--workers` workers, or straight to this node) and merges
 * the answers; each node answers only for itself.
 *
 * Requests arrive from the network (NATS, or a worker's private admin listener), so
 * {@linkcode parseNodeRequest} checks every field before anything runs.
 *
 * @module
 */
import { DisconnectKicked, withReason } from "../core/disconnect.ts";
import type { Logger } from "../core/logger.ts";
import { encodePush } from "../core/protocol.ts";
import type { Session, SessionState } from "../core/session.ts";
import type { SessionManager } from "../core/session_manager.ts";
import { TRANSPORT_KINDS, type TransportKind } from "../core/transport.ts";
import type { Hub } from "../services/hub.ts";

/** Whom a push goes to. */
export type AdminPushTarget = "session" | "user" | "group" | "all";

/** Every {@linkcode AdminPushTarget}. */
export const ADMIN_PUSH_TARGETS: readonly AdminPushTarget[] = ["session", "user", "group", "all"];

/** Which sessions a list returns; every field given must match. */
export interface SessionFilter {
  /** Sessions of this user. */
  user?: string;
  /** Members of this group. */
  group?: string;
  /** Sessions on this transport. */
  transport?: TransportKind;
}

/** A request to one node. */
export type NodeRequest =
  | {
    op: "list";
    filter: SessionFilter;
    /** Only sessions whose id sorts after this one (paging). */
    after?: string;
    /** At most this many. */
    limit: number;
  }
  | { op: "get"; session: string }
  | { op: "kick"; session: string; reason: string; by: string }
  | {
    op: "push";
    to: AdminPushTarget;
    /** The session id, user id or group; absent for `all`. */
    id?: string;
    route: string;
    data?: unknown;
    unreliable: boolean;
    by: string;
  }
  | { op: "count" };

/** How many groups a session's description lists; `group_count` tells the rest. */
export const MAX_LISTED_GROUPS = 64;

/** One session as the admin API shows it (JSON). */
export interface SessionInfo {
  /** Session id. */
  id: string;
  /** The node holding it. */
  node: string;
  /** Its user, or null. */
  user: string | null;
  /** `websocket` or `quic`. */
  transport: TransportKind;
  /** The client's `host:port`. */
  remote_addr: string;
  /** When it connected (ISO 8601). */
  connected_at: string;
  /** When something last arrived from it (ISO 8601). */
  last_seen_at: string;
  /** Latest round-trip time in ms, or null before the first measurement. */
  rtt_ms: number | null;
  /** Messages received. */
  messages_in: number;
  /** Messages sent. */
  messages_out: number;
  /** Payload bytes received. */
  bytes_in: number;
  /** Payload bytes sent. */
  bytes_out: number;
  /** Bytes written and not yet sent (0 where the transport cannot tell). */
  outbound_queue_bytes: number;
  /** Its groups on this node, at most {@linkcode MAX_LISTED_GROUPS}. */
  groups: string[];
  /** How many groups it is in. */
  group_count: number;
  /** `live` (or, once resume exists, `detached`). */
  state: SessionState;
}

/** A node's answer to a {@linkcode NodeRequest}. */
export type NodeReply =
  | { op: "list"; sessions: SessionInfo[]; more: boolean }
  | { op: "get"; session: SessionInfo | null }
  | { op: "kick"; session: SessionInfo | null }
  | { op: "push"; delivered: number }
  | { op: "count"; sessions: number }
  | { op: "error"; message: string };

/** Longest id, user id, group, route, reason or actor name a request may carry. */
export const MAX_FIELD_LENGTH = 256;

/** Largest page a node returns. */
export const MAX_NODE_PAGE = 1_000;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function field(
  object: Record<string, unknown>,
  name: string,
  optional: true,
): string | undefined;
function field(object: Record<string, unknown>, name: string, optional?: false): string;
function field(object: Record<string, unknown>, name: string, optional = false) {
  const value = object[name];
  if (value === undefined && optional) return undefined;
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_FIELD_LENGTH) {
    throw new TypeError(`${name} must be a string of 1 to ${MAX_FIELD_LENGTH} characters`);
  }
  return value;
}

/**
 * Reads a node request from untrusted JSON.
 *
 * @throws {TypeError} naming the field that is missing or wrong.
 */
export function parseNodeRequest(value: unknown): NodeRequest {
  if (!isObject(value)) throw new TypeError("A node request must be a JSON object");
  switch (value.op) {
    case "list": {
      const filter = value.filter;
      if (!isObject(filter)) throw new TypeError("filter must be an object");
      const transport = filter.transport;
      if (transport !== undefined && !TRANSPORT_KINDS.includes(transport as TransportKind)) {
        throw new TypeError(`filter.transport must be one of ${TRANSPORT_KINDS.join(", ")}`);
      }
      const limit = value.limit;
      if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > MAX_NODE_PAGE) {
        throw new TypeError(`limit must be an integer from 1 to ${MAX_NODE_PAGE}`);
      }
      return {
        op: "list",
        filter: {
          user: field(filter, "user", true),
          group: field(filter, "group", true),
          transport: transport as TransportKind | undefined,
        },
        after: field(value, "after", true),
        limit: limit as number,
      };
    }
    case "get":
      return { op: "get", session: field(value, "session") };
    case "kick":
      return {
        op: "kick",
        session: field(value, "session"),
        reason: typeof value.reason === "string" ? value.reason.slice(0, MAX_FIELD_LENGTH) : "",
        by: field(value, "by"),
      };
    case "push": {
      const to = value.to as AdminPushTarget;
      if (!ADMIN_PUSH_TARGETS.includes(to)) {
        throw new TypeError(`to must be one of ${ADMIN_PUSH_TARGETS.join(", ")}`);
      }
      const id = to === "all" ? undefined : field(value, "id");
      if (to === "all" && value.id !== undefined) {
        throw new TypeError("id must be absent for a push to all");
      }
      if (value.unreliable !== undefined && typeof value.unreliable !== "boolean") {
        throw new TypeError("unreliable must be true or false");
      }
      return {
        op: "push",
        to,
        id,
        route: field(value, "route"),
        data: value.data,
        unreliable: value.unreliable === true,
        by: field(value, "by"),
      };
    }
    case "count":
      return { op: "count" };
    default:
      throw new TypeError("op must be one of list, get, kick, push, count");
  }
}

/**
 * Reads a node's answer to a request of kind `op` from JSON; anything else (a node of another
 * version, a garbled message) is a fault of that node.
 *
 * @throws {TypeError} when it is not an answer to `op`.
 */
export function parseNodeReply(value: unknown, op: NodeRequest["op"]): NodeReply {
  if (!isObject(value)) throw new TypeError("A node reply must be a JSON object");
  if (value.op === "error" && typeof value.message === "string") return value as NodeReply;
  const ok = value.op === op && (
    op === "list"
      ? Array.isArray(value.sessions) && typeof value.more === "boolean"
      : op === "get" || op === "kick"
      ? value.session === null || isObject(value.session)
      : op === "push"
      ? Number.isInteger(value.delivered)
      : Number.isInteger(value.sessions)
  );
  if (!ok) throw new TypeError(`The node's reply is not an answer to "${op}"`);
  return value as NodeReply;
}

/** Options for {@linkcode AdminNode}. */
export interface AdminNodeOptions {
  /** This node's id, as answers name it. */
  nodeId: string;
  /** Its sessions. */
  sessions: SessionManager;
  /** Its users and groups. */
  hub: Hub;
  /** Where kicks and pushes are logged. */
  logger: Logger;
  /**
   * Largest list answer in bytes of JSON; a page stops short of it (with `more`), so it fits a
   * NATS message. Default 768 KiB.
   */
  maxReplyBytes?: number;
}

/** Answers {@linkcode NodeRequest}s for this node's sessions. */
export class AdminNode {
  readonly #options: AdminNodeOptions;
  readonly #maxReplyBytes: number;

  /** Creates the node's admin side. */
  constructor(options: AdminNodeOptions) {
    this.#options = options;
    this.#maxReplyBytes = options.maxReplyBytes ?? 768 * 1024;
  }

  /** This node's id. */
  get nodeId(): string {
    return this.#options.nodeId;
  }

  /** This node's live sessions. */
  get sessionCount(): number {
    return this.#options.sessions.size;
  }

  /** Runs one request against this node's sessions. */
  execute(request: NodeRequest): NodeReply {
    const { sessions } = this.#options;
    switch (request.op) {
      case "list":
        return this.#list(request.filter, request.after, request.limit);
      case "get": {
        const session = sessions.get(request.session);
        return { op: "get", session: session ? this.describe(session) : null };
      }
      case "kick":
        return { op: "kick", session: this.#kick(request.session, request.reason, request.by) };
      case "push":
        return { op: "push", delivered: this.#push(request) };
      case "count":
        return { op: "count", sessions: this.sessionCount };
    }
  }

  /** One session as the admin API shows it. */
  describe(session: Session): SessionInfo {
    const groups = this.#options.hub.groupsOf(session);
    return {
      id: session.id,
      node: this.#options.nodeId,
      user: session.userId ?? null,
      transport: session.kind,
      remote_addr: session.remoteAddr,
      connected_at: new Date(session.createdAt).toISOString(),
      last_seen_at: new Date(session.lastSeenAt).toISOString(),
      rtt_ms: session.rttMs === undefined ? null : Math.round(session.rttMs * 100) / 100,
      messages_in: session.messagesIn,
      messages_out: session.messagesOut,
      bytes_in: session.bytesIn,
      bytes_out: session.bytesOut,
      outbound_queue_bytes: session.transport.outboundBytes,
      groups: groups.slice(0, MAX_LISTED_GROUPS),
      group_count: groups.length,
      state: session.state,
    };
  }

  /**
   * The first `limit` matching sessions in id order after `after`. Sorting every match costs
   * O(n log n) per page (measured in docs/operations.md); a page is an operator's request, not
   * a per-message cost.
   */
  #list(filter: SessionFilter, after: string | undefined, limit: number): NodeReply {
    const { hub, sessions } = this.#options;
    // Start from the smallest set the hub indexes; check the other conditions on each.
    const { user, group, transport } = filter;
    const source: Iterable<Session> = user !== undefined
      ? hub.sessionsOfUser(user)
      : group !== undefined
      ? hub.membersOf(group)
      : sessions.values();
    const checkGroup = user !== undefined && group !== undefined;
    const matches: Session[] = [];
    for (const session of source) {
      if (after !== undefined && session.id <= after) continue;
      if (transport !== undefined && session.kind !== transport) continue;
      if (checkGroup && !hub.groupsOf(session).includes(group)) continue;
      matches.push(session);
    }
    matches.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    const page: SessionInfo[] = [];
    let bytes = 0;
    for (const session of matches) {
      if (page.length === limit) break;
      const info = this.describe(session);
      bytes += JSON.stringify(info).length + 1;
      if (bytes > this.#maxReplyBytes && page.length > 0) break;
      page.push(info);
    }
    return { op: "list", sessions: page, more: page.length < matches.length };
  }

  #kick(id: string, reason: string, by: string): SessionInfo | null {
    const session = this.#options.sessions.get(id);
    if (!session) return null;
    const info = this.describe(session);
    const disconnect = withReason(DisconnectKicked, reason);
    if (this.#options.sessions.close(session, disconnect)) {
      this.#options.logger.info("session kicked", {
        session: id,
        user: session.userId,
        code: disconnect.code,
        reason: disconnect.reason,
        by,
      });
    }
    return info;
  }

  #push(request: Extract<NodeRequest, { op: "push" }>): number {
    const { hub } = this.#options;
    const push = encodePush(request.route, request.data, { unreliable: request.unreliable });
    switch (request.to) {
      case "session":
        return hub.deliverToSession(request.id!, push);
      case "user":
        return hub.deliverToUser(request.id!, push);
      case "group":
        return hub.deliverToGroup(request.id!, push);
      case "all":
        return hub.deliverToAll(push);
    }
  }
}
