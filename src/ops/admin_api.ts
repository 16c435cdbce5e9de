/**
 * The admin API's routes and handlers (docs/operations.md, "Admin API"): list, describe and
 * kick sessions, push, list nodes. Every request needs a bearer token (`admin_auth.ts`); every
 * answer is JSON, errors too (`{"error":code,"message":...}`); every request is logged with
 * the name of the token that made it. Bad input gets a 4xx, and a fault of the API itself a
 * 500 with the details in the log only.
 *
 * The API asks the gateway nodes through an {@linkcode AdminCluster} and merges their
 * answers: sessions are listed in (node id, session id) order, paged with a cursor that names
 * the last session shown (`admin_cursor.ts`).
 *
 * @module
 */
import type { GatewayConfig } from "../config/config.ts";
import { DisconnectKicked, withReason } from "../core/disconnect.ts";
import type { Logger } from "../core/logger.ts";
import { TRANSPORT_KINDS, type TransportKind } from "../core/transport.ts";
import type { AdminTokens } from "./admin_auth.ts";
import type { AdminCluster, NodeAnswer } from "./admin_cluster.ts";
import { decodeCursor, encodeCursor } from "./admin_cursor.ts";
import {
  type AdminNode,
  MAX_FIELD_LENGTH,
  type NodeReply,
  type NodeRequest,
  parseNodeRequest,
  type SessionInfo,
} from "./admin_node.ts";

/** Error codes of the admin API's JSON errors. */
export type AdminErrorCode =
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "bad_request"
  | "bad_cursor"
  | "bad_json"
  | "body_too_large"
  | "session_not_found"
  | "nodes_unreachable"
  | "internal_error";

/** A request the API refuses, as its JSON error. */
class AdminHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: AdminErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
    /** What the request was about, for its log line. */
    readonly log: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "AdminHttpError";
  }
}

function badRequest(message: string): AdminHttpError {
  return new AdminHttpError(400, "bad_request", message);
}

const LIST_PARAMS = new Set(["user", "group", "transport", "limit", "cursor"]);
const PUSH_FIELDS = new Set(["to", "id", "route", "data", "unreliable"]);

/** What one request did, for its log line. */
type Outcome = { status: number; body: unknown; log?: Record<string, unknown> };

/** Options for {@linkcode AdminApi}. */
export interface AdminApiOptions {
  /** The `admin` config section: body and page limits. */
  config: GatewayConfig["admin"];
  /** Who may call. */
  tokens: AdminTokens;
  /** The gateway nodes to ask. */
  cluster: AdminCluster;
  /**
   * This node's admin side, when the API runs on a gateway node: it then also serves
   * `POST /admin/node`, one node request for this node alone (how a `--workers` supervisor
   * asks its workers).
   */
  local?: AdminNode;
  /** Where every request is logged. */
  logger: Logger;
}

/** The admin API's request handler. */
export class AdminApi {
  readonly #options: AdminApiOptions;

  /** Creates the handler. */
  constructor(options: AdminApiOptions) {
    this.#options = options;
  }

  /** Answers one HTTP request; never throws. */
  async handle(request: Request, remoteAddr = ""): Promise<Response> {
    const { logger, tokens } = this.#options;
    const url = new URL(request.url);
    const auth = tokens.check(request.headers.get("authorization"));
    if (!auth.ok) {
      logger.warn("admin request refused", {
        status: auth.status,
        method: request.method,
        path: url.pathname,
        remote: remoteAddr,
      });
      await request.body?.cancel();
      return errorResponse(
        new AdminHttpError(
          auth.status,
          auth.status === 401 ? "unauthorized" : "forbidden",
          auth.message,
        ),
      );
    }
    const by = auth.actor;
    let outcome: Outcome;
    try {
      outcome = await this.#route(request, url, by);
    } catch (error) {
      await request.body?.cancel().catch(() => {});
      if (!(error instanceof AdminHttpError)) {
        logger.error("admin request failed", {
          by,
          method: request.method,
          path: url.pathname,
          error,
        });
        return errorResponse(
          new AdminHttpError(500, "internal_error", "The request failed; see the gateway log"),
        );
      }
      logger.info("admin request", {
        by,
        method: request.method,
        path: url.pathname,
        status: error.status,
        error: error.code,
        ...error.log,
      });
      return errorResponse(error);
    }
    logger.info("admin request", {
      by,
      method: request.method,
      path: url.pathname,
      status: outcome.status,
      ...outcome.log,
    });
    return Response.json(outcome.body, { status: outcome.status, headers: NO_STORE });
  }

  #route(request: Request, url: URL, by: string): Promise<Outcome> {
    const path = url.pathname;
    const method = request.method;
    const allow = (methods: string) => {
      if (!methods.split(", ").includes(method)) {
        throw new AdminHttpError(
          405,
          "method_not_allowed",
          `${path} accepts ${methods}`,
          { allow: methods },
        );
      }
    };
    if (path === "/admin/sessions") {
      allow("GET");
      return this.#listSessions(url);
    }
    if (path.startsWith("/admin/sessions/")) {
      allow("GET, DELETE");
      const id = sessionId(path.slice("/admin/sessions/".length));
      return method === "GET" ? this.#getSession(id, url) : this.#kick(id, url, by);
    }
    if (path === "/admin/push") {
      allow("POST");
      return this.#push(request, url, by);
    }
    if (path === "/admin/nodes") {
      allow("GET");
      noParams(url);
      return this.#nodes();
    }
    if (path === "/admin/node" && this.#options.local) {
      allow("POST");
      return this.#nodeRequest(request, url, this.#options.local);
    }
    throw new AdminHttpError(
      404,
      "not_found",
      `No admin endpoint ${path}; see docs/operations.md, "Admin API"`,
    );
  }

  async #listSessions(url: URL): Promise<Outcome> {
    const { config, cluster } = this.#options;
    const params = url.searchParams;
    for (const key of new Set(params.keys())) {
      if (!LIST_PARAMS.has(key)) {
        throw badRequest(
          `Unknown query parameter "${key.slice(0, 64)}"; use ${[...LIST_PARAMS].join(", ")}`,
        );
      }
      if (params.getAll(key).length > 1) {
        throw badRequest(`Query parameter "${key}" is given twice`);
      }
    }
    const text = (name: string) => {
      const value = params.get(name) || undefined;
      if (value !== undefined && value.length > MAX_FIELD_LENGTH) {
        throw badRequest(`${name} must be at most ${MAX_FIELD_LENGTH} characters`);
      }
      return value;
    };
    const transport = text("transport");
    if (transport !== undefined && !TRANSPORT_KINDS.includes(transport as TransportKind)) {
      throw badRequest(`transport must be one of ${TRANSPORT_KINDS.join(", ")}`);
    }
    const limitText = params.get("limit") || undefined;
    const limit = limitText === undefined ? config.page_size : Number(limitText);
    if (!/^\d{1,7}$/.test(limitText ?? "1") || limit < 1 || limit > config.max_page_size) {
      throw badRequest(`limit must be an integer from 1 to ${config.max_page_size}`);
    }
    const cursorText = params.get("cursor") || undefined;
    let cursor;
    try {
      cursor = cursorText === undefined ? undefined : decodeCursor(cursorText);
    } catch (error) {
      throw new AdminHttpError(400, "bad_cursor", (error as Error).message);
    }
    const filter = {
      user: text("user"),
      group: text("group"),
      transport: transport as TransportKind | undefined,
    };
    const requests = new Map<string, NodeRequest>();
    for (const node of cluster.gatewayNodes()) {
      if (cursor !== undefined && node < cursor.node) continue;
      const after = cursor !== undefined && node === cursor.node ? cursor.session : undefined;
      requests.set(node, { op: "list", filter, after, limit });
    }
    const { answers, unreachable } = this.#gather(await cluster.ask(requests), "list");
    answers.sort((a, b) => a.node < b.node ? -1 : a.node > b.node ? 1 : 0);
    const page: SessionInfo[] = [];
    let leftover = false;
    for (const { reply } of answers) {
      if (reply.op !== "list") continue;
      const room = limit - page.length;
      page.push(...reply.sessions.slice(0, room));
      if (reply.sessions.length > room || reply.more) leftover = true;
      if (leftover && page.length === limit) break;
    }
    const last = page.at(-1);
    const next = leftover && last ? encodeCursor({ node: last.node, session: last.id }) : null;
    return {
      status: 200,
      body: { sessions: page, next_cursor: next, unreachable },
      log: { action: "list_sessions", returned: page.length, unreachable },
    };
  }

  async #getSession(id: string, url: URL): Promise<Outcome> {
    noParams(url);
    const found = await this.#findOnNodes({ op: "get", session: id }, { action: "get_session" });
    return { status: 200, body: found.session, log: { action: "get_session", session: id } };
  }

  async #kick(id: string, url: URL, by: string): Promise<Outcome> {
    for (const key of new Set(url.searchParams.keys())) {
      if (key !== "reason") {
        throw badRequest(`Unknown query parameter "${key.slice(0, 64)}"; use reason`);
      }
    }
    const reason = url.searchParams.get("reason") ?? "";
    if (reason.length > MAX_FIELD_LENGTH) {
      throw badRequest(`reason must be at most ${MAX_FIELD_LENGTH} characters`);
    }
    const disconnect = withReason(DisconnectKicked, reason);
    const found = await this.#findOnNodes({ op: "kick", session: id, reason, by }, {
      action: "kick",
      reason: disconnect.reason,
    });
    return {
      status: 200,
      body: { kicked: found.session, code: disconnect.code, reason: disconnect.reason },
      log: {
        action: "kick",
        session: id,
        node: found.node,
        code: disconnect.code,
        reason: disconnect.reason,
      },
    };
  }

  async #push(request: Request, url: URL, by: string): Promise<Outcome> {
    noParams(url);
    const body = await this.#readJson(request);
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw badRequest('The body must be a JSON object: {"to","id","route","data","unreliable"}');
    }
    for (const key of Object.keys(body)) {
      if (!PUSH_FIELDS.has(key)) {
        throw badRequest(`Unknown field "${key.slice(0, 64)}"; use ${[...PUSH_FIELDS].join(", ")}`);
      }
    }
    let push: NodeRequest;
    try {
      push = parseNodeRequest({ ...body, op: "push", by });
    } catch (error) {
      throw badRequest((error as Error).message);
    }
    if (push.op !== "push") throw badRequest("Not a push");
    const { cluster } = this.#options;
    const requests = new Map(cluster.gatewayNodes().map((node) => [node, push]));
    const { answers, unreachable } = this.#gather(await cluster.ask(requests), "push");
    const delivered = answers.reduce(
      (sum, { reply }) => sum + (reply.op === "push" ? reply.delivered : 0),
      0,
    );
    const log = {
      action: "push",
      to: push.to,
      id: push.id,
      route: push.route,
      delivered,
      unreachable,
    };
    if (push.to === "session" && delivered === 0) throw notFound(push.id!, unreachable, log);
    return { status: 200, body: { delivered, unreachable }, log };
  }

  async #nodes(): Promise<Outcome> {
    const view = await this.#options.cluster.nodes();
    return {
      status: 200,
      body: view,
      log: { action: "list_nodes", unreachable: view.unreachable },
    };
  }

  async #nodeRequest(request: Request, url: URL, local: AdminNode): Promise<Outcome> {
    noParams(url);
    let nodeRequest: NodeRequest;
    try {
      nodeRequest = parseNodeRequest(await this.#readJson(request));
    } catch (error) {
      if (error instanceof AdminHttpError) throw error;
      throw badRequest((error as Error).message);
    }
    const reply = local.execute(nodeRequest);
    return { status: 200, body: reply, log: { action: "node_request", op: nodeRequest.op } };
  }

  /** Asks every gateway node; the one holding the session answers with it. */
  async #findOnNodes(
    request: Extract<NodeRequest, { op: "get" | "kick" }>,
    log: Record<string, unknown>,
  ): Promise<{ node: string; session: SessionInfo }> {
    const { cluster } = this.#options;
    const requests = new Map(cluster.gatewayNodes().map((node) => [node, request]));
    const { answers, unreachable } = this.#gather(await cluster.ask(requests), request.op);
    for (const { node, reply } of answers) {
      if ((reply.op === "get" || reply.op === "kick") && reply.session) {
        return { node, session: reply.session };
      }
    }
    throw notFound(request.session, unreachable, { ...log, session: request.session });
  }

  /** Splits a scatter's answers: those of kind `op`, and every node that failed. */
  #gather(
    result: { answers: NodeAnswer[]; unreachable: string[] },
    op: NodeRequest["op"],
  ): { answers: NodeAnswer[]; unreachable: string[] } {
    const answers: NodeAnswer[] = [];
    const unreachable = [...result.unreachable];
    for (const answer of result.answers) {
      if (answer.reply.op === op) {
        answers.push(answer);
      } else {
        const reply = answer.reply as NodeReply;
        this.#options.logger.warn("admin node request failed", {
          node: answer.node,
          op,
          error: reply.op === "error" ? reply.message : `answered ${reply.op}`,
        });
        unreachable.push(answer.node);
      }
    }
    return { answers, unreachable: unreachable.sort() };
  }

  /** Reads a JSON body of at most `admin.max_body_bytes`. */
  async #readJson(request: Request): Promise<unknown> {
    const max = this.#options.config.max_body_bytes;
    const tooLarge = () =>
      new AdminHttpError(
        413,
        "body_too_large",
        `The body is larger than ${max} bytes (admin.max_body_bytes)`,
      );
    const declared = request.headers.get("content-length");
    if (declared !== null && Number(declared) > max) throw tooLarge();
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (request.body) {
      for await (const chunk of request.body) {
        size += chunk.byteLength;
        if (size > max) throw tooLarge();
        chunks.push(chunk);
      }
    }
    const bytes = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.byteLength;
    }
    try {
      return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch {
      throw new AdminHttpError(400, "bad_json", "The body is not valid UTF-8 JSON");
    }
  }
}

const NO_STORE = { "cache-control": "no-store" };

function errorResponse(error: AdminHttpError): Response {
  const headers: Record<string, string> = { ...NO_STORE };
  if (error.status === 401) headers["www-authenticate"] = 'Bearer realm="admin"';
  if (typeof error.extra.allow === "string") headers.allow = error.extra.allow;
  const { allow: _allow, ...extra } = error.extra;
  return Response.json(
    { error: error.code, message: error.message, ...extra },
    { status: error.status, headers },
  );
}

/** Not found on any node that answered: 404, or 503 when some did not answer. */
function notFound(
  id: string,
  unreachable: string[],
  log: Record<string, unknown>,
): AdminHttpError {
  if (unreachable.length > 0) {
    return new AdminHttpError(
      503,
      "nodes_unreachable",
      `Session ${id} is not on any node that answered; ${unreachable.length} did not answer in time`,
      { unreachable },
      { ...log, unreachable },
    );
  }
  return new AdminHttpError(404, "session_not_found", `No session ${id} on any node`, {}, log);
}

function noParams(url: URL): void {
  const key = url.searchParams.keys().next().value;
  if (key !== undefined) throw badRequest(`Unknown query parameter "${key.slice(0, 64)}"`);
}

function sessionId(encoded: string): string {
  let id: string;
  try {
    id = decodeURIComponent(encoded);
  } catch {
    throw badRequest("The session id is not valid percent-encoding");
  }
  if (id.length === 0 || id.length > MAX_FIELD_LENGTH || id.includes("/")) {
    throw badRequest(`A session id is 1 to ${MAX_FIELD_LENGTH} characters without /`);
  }
  return id;
}
