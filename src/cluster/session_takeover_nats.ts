/**
 * Moves a session between gateway nodes over NATS when its client resumes on another node (the
 * load balancer chose another one, or the old node is draining). No shared store: the node
 * holding the session (A, named by the resume token) hands it to the node the client reached
 * (B) on A's subject `P.resume.<A>`, in two steps.
 *
 * 1. `prepare`: A checks the token's secret and `last_seq`, closes the session's old connection
 *    if it is still open (the session is kept, detached), and answers with its id, user and
 *    groups. Nothing moves: if B never comes back, the client can still resume on A.
 * 2. B registers the session (detached, holding pushes unstamped), binds its user and joins its
 *    groups, notes at once how far it has seen each publisher's pushes (`cuts`) and sends
 *    `commit` with them. A waits until it has seen at least as far (a bounded wait; normally
 *    it has), then, in one synchronous step, snapshots the session (state, data, groups, auth,
 *    the buffered messages after `last_seq`), notes its own cuts, answers, and forgets the
 *    session. B fills the session with the snapshot, stamps the pushes it held that A had not
 *    seen, and resumes it on the client's connection.
 *
 * Why nothing is lost or repeated: every push on `P.push` carries its origin (publisher, n), and
 * NATS delivers one publisher's pushes to each node in order. A's cut for a publisher p is the
 * last of p's pushes A delivered before the snapshot, so p's pushes up to it are in A's buffer
 * (A still had the memberships) and those after it are not (A forgot the session in the same
 * step). B drops the held pushes up to A's cut and keeps the rest. Every one of p's pushes after
 * A's cut reached B after B joined, because A's cut is at least B's cut at joining (the wait),
 * so B held it. Each push is thus sent once: from A's buffer, or from B's. Pushes of different
 * publishers have no order between them in NATS; each publisher's stay in order.
 *
 * Limits: a reply to a request the old connection still had in flight, answered on A after the
 * snapshot, is lost (the client SDK reports it as `connection_lost`); if A's answer to `commit`
 * is lost on the way, so is the session (B answers `resume_failed`, the client starts afresh).
 *
 * @module
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  decodeJson,
  encodeJson,
  type PushCuts,
  type Subjects,
  type TakeoverReply,
  type TakeoverRequest,
} from "./cluster_protocol.ts";
import type { NatsBroker } from "./broker_nats.ts";
import type { ClusterRegistry } from "./registry.ts";
import type { Logger } from "../core/logger.ts";
import type { NatsLink } from "./nats_link.ts";
import {
  type PushOrigin,
  RESUME_FAILURE_REASONS,
  type ResumeFailureReason,
} from "../core/protocol.ts";
import type { ResumeToken } from "../core/resume_token.ts";
import type {
  IdentifyResult,
  RemoteSessions,
  ResumeFailure,
  SessionHandover,
  TakeoverResult,
} from "../core/session_resumer.ts";

/**
 * How long the holder waits to have seen the push stream as far as the taker, ms. Both
 * subscribe to the same stream, so it is the difference of their lags: more than this, and the
 * holder is too overloaded to be waited for.
 */
const CATCH_UP_MS = 1_000;

/** Options for {@linkcode NatsSessionTakeover}. */
export interface NatsSessionTakeoverOptions {
  /** The NATS connection. */
  link: NatsLink;
  /** Subject names. */
  subjects: Subjects;
  /** This node's id. */
  nodeId: string;
  /** The push stream: how far this node has seen it. */
  broker: NatsBroker;
  /** Which nodes are alive. */
  registry: ClusterRegistry;
  /** How long to wait for the holding node's answer, ms. */
  timeoutMs: number;
  /** Where faults are logged. */
  logger: Logger;
}

function failure(reason: ResumeFailureReason): ResumeFailure {
  return { ok: false, reason };
}

function isRequest(value: unknown): value is TakeoverRequest {
  const request = value as TakeoverRequest;
  return typeof value === "object" && value !== null &&
    (request.op === "prepare" || request.op === "commit") &&
    typeof request.session === "string" && typeof request.secret === "string" &&
    Number.isSafeInteger(request.last_seq) &&
    (request.cuts === undefined || Array.isArray(request.cuts));
}

/** A failure reason from another node, as a label value from our fixed set. */
function reasonOf(value: unknown): ResumeFailureReason {
  return RESUME_FAILURE_REASONS.includes(value as ResumeFailureReason)
    ? value as ResumeFailureReason
    : "node_unreachable";
}

/** Both sides of a session takeover: asking other nodes, and answering them. */
export class NatsSessionTakeover implements RemoteSessions, AsyncDisposable {
  readonly #options: NatsSessionTakeoverOptions;
  #handover: SessionHandover | undefined;
  #subscription: Subscription | undefined;

  /** Creates both sides; call {@linkcode subscribe} with each new connection. */
  constructor(options: NatsSessionTakeoverOptions) {
    this.#options = options;
  }

  /** Answers other nodes' takeovers of this node's sessions through `handover`. */
  serve(handover: SessionHandover): void {
    this.#handover = handover;
  }

  /** Starts answering on this node's subject. */
  subscribe(connection: NatsConnection): void {
    const { subjects, nodeId, logger } = this.#options;
    this.#subscription = connection.subscribe(subjects.resume(nodeId), {
      callback: (error, message) => {
        if (error) logger.warn("takeover subscription failed", { error });
        else {
          this.#answer(connection, message).catch((error) =>
            logger.error("takeover answer failed", { error })
          );
        }
      },
    });
  }

  /** See {@linkcode RemoteSessions.prepare}. */
  async prepare(
    token: ResumeToken,
    lastSeq: number,
  ): Promise<IdentifyResult> {
    const reply = await this.#ask(token, {
      op: "prepare",
      session: token.session,
      secret: token.secret,
      last_seq: lastSeq,
    });
    if (!reply.ok) return reply;
    if (!("identity" in reply) || !Array.isArray(reply.identity?.groups)) {
      return failure("node_unreachable");
    }
    return reply;
  }

  /** See {@linkcode RemoteSessions.commit}. */
  commit(
    token: ResumeToken,
    lastSeq: number,
  ): Promise<TakeoverResult> {
    // Taken now, synchronously: the caller has just joined the session's groups.
    const cuts = this.#options.broker.recentCuts();
    return this.#ask(token, {
      op: "commit",
      session: token.session,
      secret: token.secret,
      last_seq: lastSeq,
      cuts,
    }).then((reply) => {
      if (!reply.ok) return reply;
      if (!("snapshot" in reply) || !Array.isArray(reply.snapshot?.messages)) {
        return failure("node_unreachable");
      }
      const seen = new Map(reply.cuts);
      return {
        ok: true,
        snapshot: reply.snapshot,
        covered: (origin: PushOrigin) => origin.seq <= (seen.get(origin.publisher) ?? 0),
      };
    });
  }

  /** Stops answering. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#subscription?.unsubscribe();
    return Promise.resolve();
  }

  async #ask(token: ResumeToken, request: TakeoverRequest): Promise<TakeoverReply> {
    const { link, subjects, registry, timeoutMs, logger } = this.#options;
    const connection = link.connection;
    if (!registry.isAlive(token.node) || connection === undefined) {
      return failure("node_unreachable");
    }
    let message: Msg;
    try {
      message = await connection.request(subjects.resume(token.node), encodeJson(request), {
        timeout: timeoutMs,
      });
    } catch (error) {
      logger.warn("takeover request failed", { op: request.op, node: token.node, error });
      return failure("node_unreachable");
    }
    let reply: TakeoverReply;
    try {
      reply = decodeJson<TakeoverReply>(message.data);
    } catch (error) {
      logger.warn("malformed takeover answer", { node: token.node, error });
      return failure("node_unreachable");
    }
    return reply.ok === true ? reply : failure(reasonOf((reply as { reason?: unknown }).reason));
  }

  async #answer(connection: NatsConnection, message: Msg): Promise<void> {
    const { broker, logger } = this.#options;
    let request: unknown;
    try {
      request = decodeJson<unknown>(message.data);
    } catch {
      request = undefined;
    }
    const handover = this.#handover;
    if (!isRequest(request)) {
      message.respond(encodeJson(failure("malformed")));
      return;
    }
    if (handover === undefined) {
      message.respond(encodeJson(failure("node_unreachable")));
      return;
    }
    const { session, secret, last_seq: lastSeq } = request;
    if (request.op === "prepare") {
      message.respond(encodeJson(handover.identify(session, secret, lastSeq)));
      return;
    }
    const cuts: PushCuts = (request.cuts ?? []).filter((cut) =>
      Array.isArray(cut) && typeof cut[0] === "string" && Number.isSafeInteger(cut[1])
    );
    if (!await broker.caughtUp(cuts, CATCH_UP_MS)) {
      logger.warn("handing a session over before seeing every push the other node saw", {
        session,
      });
    }
    const maxPayload = connection.info?.max_payload ?? Infinity;
    // One synchronous step: snapshot, answer, forget.
    const result = handover.handOver(session, secret, lastSeq, (snapshot) => {
      const body = encodeJson({ ok: true, snapshot, cuts: broker.cuts() } satisfies TakeoverReply);
      if (body.length > maxPayload) {
        logger.warn("session too large to hand over", { session, bytes: body.length });
        return false;
      }
      try {
        message.respond(body);
        return true;
      } catch (error) {
        logger.warn("takeover answer not sent", { session, error });
        return false;
      }
    });
    if (result !== true) message.respond(encodeJson(result));
  }
}
