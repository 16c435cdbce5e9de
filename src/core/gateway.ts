/**
 * The gateway's frame pipeline, shared by every transport: a transport hands it inbound frames
 * for a session; it refreshes the heartbeat, enforces size and protocol-error limits, decodes
 * the envelope, applies the rate limits, runs the route and writes the reply.
 *
 * @module
 */
import {
  type Disconnect,
  DisconnectMessageTooBig,
  DisconnectProtocolErrors,
  DisconnectRateLimited,
} from "./disconnect.ts";
import type { Authenticator } from "./authenticator.ts";
import type { Logger } from "./logger.ts";
import type { FrameEvents, LimitEvents } from "./events.ts";
import {
  decodeEnvelope,
  encodeError,
  encodeResponse,
  type Envelope,
  ErrorCode,
  utf8ByteLength,
} from "./protocol.ts";
import { type RateLimiter, RateVerdict, SESSION_BUCKET_LABEL } from "./rate_limiter.ts";
import { RouteError } from "./service.ts";
import type { ServiceHost } from "./service_host.ts";
import type { Session } from "./session.ts";
import type { SessionManager } from "./session_manager.ts";
import type { SessionResumer } from "./session_resumer.ts";
import type { SessionWriter } from "./session_writer.ts";
import type { Transport } from "./transport.ts";

/** Options for {@linkcode Gateway}. */
export interface GatewayOptions {
  /** The session registry. */
  sessions: SessionManager;
  /** Where `request` and `notify` messages are handled. */
  services: ServiceHost;
  /** Where replies go out. */
  writer: SessionWriter;
  /** How long a request may take before the client gets a `timeout` error. */
  requestTimeoutMs: number;
  /** Traffic and limit observers (metrics). */
  events: FrameEvents & LimitEvents;
  /** Where protocol faults and handler errors are logged. */
  logger: Logger;
  /** Largest inbound frame in bytes; larger closes the session with 1009. */
  maxMessageBytes: number;
  /** Error replies after which the session is closed with 1008. */
  maxProtocolErrors: number;
  /** Authenticates sessions before they may use routes (`auth.mode: "jwt"`); absent: none. */
  authenticator?: Authenticator;
  /** Answers `hello` and `resume` (`session.resume_window_sec` above 0); absent: no resume. */
  resumer?: SessionResumer;
  /** Inbound rate limits (`limits`); absent: none. */
  rateLimiter?: RateLimiter;
}

/** The transport-independent heart of the gateway. */
export class Gateway {
  readonly #sessions: SessionManager;
  readonly #services: ServiceHost;
  readonly #writer: SessionWriter;
  readonly #requestTimeoutMs: number;
  readonly #events: FrameEvents & LimitEvents;
  readonly #logger: Logger;
  readonly #maxMessageBytes: number;
  readonly #maxProtocolErrors: number;
  readonly #authenticator: Authenticator | undefined;
  readonly #resumer: SessionResumer | undefined;
  readonly #rateLimiter: RateLimiter | undefined;

  /** Creates the pipeline. */
  constructor(options: GatewayOptions) {
    this.#sessions = options.sessions;
    this.#services = options.services;
    this.#writer = options.writer;
    this.#requestTimeoutMs = options.requestTimeoutMs;
    this.#events = options.events;
    this.#logger = options.logger;
    this.#maxMessageBytes = options.maxMessageBytes;
    this.#maxProtocolErrors = options.maxProtocolErrors;
    this.#authenticator = options.authenticator;
    this.#resumer = options.resumer;
    this.#rateLimiter = options.rateLimiter;
  }

  /** The session registry this pipeline feeds. */
  get sessions(): SessionManager {
    return this.#sessions;
  }

  /** Registers a new connection as a session. */
  open(transport: Transport, remoteAddr: string): Session {
    const session = this.#sessions.create(transport, remoteAddr);
    this.#authenticator?.admit(session);
    this.#logger.debug("session opened", {
      session: session.id,
      transport: session.kind,
      remote: remoteAddr,
    });
    return session;
  }

  /**
   * Records a measured round trip: the answer to a transport's protocol ping, or to the
   * gateway's application ping (`rtt_prober.ts`).
   */
  pong(session: Session, rttMs: number): void {
    session.rttMs = rttMs;
    this.#events.onRttMeasured?.(session.kind, rttMs / 1000);
  }

  /** Records a control frame (e.g. a WebSocket pong) as a sign of life. */
  touch(session: Session): void {
    this.#sessions.touch(session);
  }

  /**
   * The transport closed by itself; ends the session with `disconnect`, or detaches it when it
   * is resumable and `disconnect` lets it wait to be resumed.
   */
  closed(session: Session, disconnect?: Disconnect): void {
    if (this.#sessions.closedByTransport(session, disconnect)) {
      this.#logger.debug("connection closed by peer", {
        session: session.id,
        reason: (disconnect ?? { label: "client_closed" }).label,
      });
    }
  }

  /** Ends a session from the gateway's side. */
  close(session: Session, disconnect: Disconnect): void {
    if (this.#sessions.close(session, disconnect)) {
      this.#logger.info("session closed", {
        session: session.id,
        code: disconnect.code,
        reason: disconnect.label,
      });
    }
  }

  /** Handles one inbound text frame. `bytes` is its UTF-8 size when the transport knows it. */
  receiveText(session: Session, text: string, bytes?: number): void {
    this.#receiveText(session, text, bytes ?? utf8ByteLength(text), false);
  }

  /**
   * Handles one inbound datagram (QUIC): counted apart from stream frames, then handled like
   * one. Replies go on the reliable stream, since the client may be waiting on them.
   */
  receiveDatagram(session: Session, text: string, bytes: number): void {
    this.#receiveText(session, text, bytes, true);
  }

  /**
   * A stream transport could not delimit a frame (bad length prefix, truncated frame). The
   * stream cannot be resynchronised, so the client gets an error reply and `disconnect`.
   */
  receiveUnframed(session: Session, message: string, disconnect: Disconnect): void {
    this.#logger.warn("unframed input", { session: session.id, reason: disconnect.label });
    this.#reply(session, ErrorCode.badEnvelope, message);
    this.close(session, disconnect);
  }

  #receiveText(session: Session, text: string, size: number, datagram: boolean): void {
    const started = performance.now();
    this.#received(session, size, datagram);
    if (size > this.#maxMessageBytes) {
      this.#logger.warn("frame too big", {
        session: session.id,
        bytes: size,
        max: this.#maxMessageBytes,
      });
      this.close(session, DisconnectMessageTooBig);
      return;
    }
    const decoded = decodeEnvelope(text);
    if (!decoded.ok) {
      this.#protocolError(session, decoded.code, decoded.message, decoded.id);
      return;
    }
    // Every envelope counts, pings and handshakes too; the clock reading is the one above.
    const verdict = this.#rateLimiter?.admit(session, decoded.envelope.route, started);
    if (verdict !== undefined && verdict !== RateVerdict.admitted) {
      this.#rateLimited(session, decoded.envelope.id, verdict);
      return;
    }
    this.#dispatch(session, decoded.envelope, started);
  }

  /** Answers a message over a rate limit without routing it, or closes a persistent flooder. */
  #rateLimited(session: Session, id: number | undefined, verdict: RateVerdict): void {
    // Frames read in one batch still arrive after the close: they are not counted again.
    if (this.#sessions.get(session.id) !== session) return;
    const refusedBy = this.#rateLimiter!.refusedBy;
    this.#events.onRateLimited(refusedBy);
    if (verdict === RateVerdict.close) {
      this.#logger.warn("closing session over its rate limit", {
        session: session.id,
        limit: refusedBy,
      });
      this.close(session, DisconnectRateLimited);
      return;
    }
    this.#reply(
      session,
      ErrorCode.rateLimited,
      refusedBy === SESSION_BUCKET_LABEL
        ? "Too many messages: slow down"
        : `Too many messages to route "${refusedBy}": slow down`,
      id,
    );
  }

  /** Handles one inbound binary frame: refused until a binary codec exists. */
  receiveBinary(session: Session, bytes: number): void {
    this.#received(session, bytes, false);
    if (bytes > this.#maxMessageBytes) {
      this.close(session, DisconnectMessageTooBig);
      return;
    }
    this.#protocolError(
      session,
      ErrorCode.binaryUnsupported,
      "Binary frames are not supported by protocol v1; send JSON text frames",
    );
  }

  #received(session: Session, bytes: number, datagram: boolean): void {
    session.messagesIn++;
    session.bytesIn += bytes;
    this.#sessions.touch(session);
    if (datagram) this.#events.onDatagramReceived(session.kind, bytes);
    else this.#events.onFrameReceived(session.kind, bytes);
  }

  #dispatch(session: Session, envelope: Envelope, started: number): void {
    // The one cost of authentication on an established session: this check.
    if (
      !session.authenticated && envelope.type !== "ping" && envelope.type !== "auth" &&
      envelope.type !== "pong" && envelope.type !== "resume"
    ) {
      this.#protocolError(
        session,
        ErrorCode.unauthenticated,
        "Authenticate first: send an auth message and wait for its response",
        envelope.id,
      );
      return;
    }
    switch (envelope.type) {
      case "ping":
        // A pong belongs to the connection: no `seq`, never replayed.
        this.#writer.writeControl(
          session,
          envelope.id === undefined
            ? `{"type":"pong","ts":${Date.now()}}`
            : `{"type":"pong","id":${envelope.id},"ts":${Date.now()}}`,
        );
        this.#events.onMessageHandled((performance.now() - started) / 1000);
        return;
      case "request":
        this.#request(session, envelope, started);
        return;
      case "notify":
        this.#notify(session, envelope, started);
        return;
      case "auth":
        if (this.#authenticator === undefined) break; // auth.mode none: not a message type
        if (envelope.id === undefined) {
          this.#protocolError(session, ErrorCode.badEnvelope, "An auth needs an id");
          return;
        }
        this.#authenticator.receive(session, envelope.id, envelope.data);
        return;
      case "pong":
        // The answer to the gateway's RTT probe (after the common types, which pay nothing
        // for it); any other pong, late or unasked, is ignored, never a protocol error.
        if (envelope.id !== undefined && envelope.id === session.rttProbeId) {
          session.rttProbeId = 0;
          this.pong(session, performance.now() - session.rttProbeSentAt);
        }
        return;
      case "hello":
      case "resume":
        if (this.#resumer === undefined) break; // resume off: not message types
        if (envelope.id === undefined) {
          this.#protocolError(session, ErrorCode.badEnvelope, `A ${envelope.type} needs an id`);
          return;
        }
        if (envelope.type === "hello") this.#resumer.hello(session, envelope.id);
        else this.#resumer.resume(session, envelope.id, envelope.data);
        return;
    }
    this.#protocolError(
      session,
      ErrorCode.unknownType,
      `Unknown message type "${envelope.type.slice(0, 64)}"`,
      envelope.id,
    );
  }

  #request(session: Session, envelope: Envelope, started: number): void {
    const { id, route } = envelope;
    if (id === undefined || route === undefined) {
      this.#protocolError(session, ErrorCode.badEnvelope, "A request needs an id and a route", id);
      return;
    }
    let result: unknown;
    try {
      result = this.#services.request(session, route, envelope.data);
    } catch (error) {
      this.#routeFailed(session, route, error, id);
      return;
    }
    if (result instanceof Promise) {
      this.#withTimeout(result, route).then(
        (data) => this.#respond(this.#current(session), route, id, data, started),
        (error) => this.#routeFailed(this.#current(session), route, error, id),
      );
    } else {
      this.#respond(session, route, id, result, started);
    }
  }

  /**
   * The session an asynchronous answer goes to: a resume on this node may have moved the
   * session to a new connection meanwhile, under the same id.
   */
  #current(session: Session): Session {
    return this.#sessions.get(session.id) ?? session;
  }

  /** Sends a route's answer; an answer JSON cannot encode becomes an `internal_error` reply. */
  #respond(session: Session, route: string, id: number, data: unknown, started: number): void {
    let text: string;
    try {
      text = encodeResponse(id, data);
    } catch (error) {
      this.#routeFailed(
        session,
        route,
        new RouteError(
          "internal_error",
          `Route "${route}" answered with a value JSON cannot encode`,
          {
            cause: error,
          },
        ),
        id,
      );
      return;
    }
    this.#writer.write(session, text);
    this.#events.onMessageHandled((performance.now() - started) / 1000);
  }

  #notify(session: Session, envelope: Envelope, started: number): void {
    const { route } = envelope;
    if (route === undefined) {
      this.#protocolError(session, ErrorCode.badEnvelope, "A notify needs a route", envelope.id);
      return;
    }
    const done = () => this.#events.onMessageHandled((performance.now() - started) / 1000);
    const fail = (error: unknown) =>
      this.#routeFailed(this.#current(session), route, error, envelope.id);
    let result: unknown;
    try {
      result = this.#services.notify(session, route, envelope.data);
    } catch (error) {
      fail(error);
      return;
    }
    if (result instanceof Promise) this.#withTimeout(result, route).then(done, fail);
    else done();
  }

  #withTimeout(result: Promise<unknown>, route: string): Promise<unknown> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RouteError("timeout", `Route "${route}" did not answer in time`)),
        this.#requestTimeoutMs,
      );
    });
    return Promise.race([result, timeout]).finally(() => clearTimeout(timer));
  }

  /** Turns a failed route into the error reply the client may see; internals go to the log. */
  #routeFailed(session: Session, route: string, error: unknown, id: number | undefined): void {
    if (error instanceof RouteError && error.code === "unknown_route") {
      this.#protocolError(session, ErrorCode.unknownRoute, error.message, id);
      return;
    }
    if (error instanceof RouteError && error.code !== "internal_error") {
      this.#logger.warn("route failed", { session: session.id, route, code: error.code });
      this.#reply(session, error.code, error.message, id);
      return;
    }
    this.#logger.error("route handler failed", {
      session: session.id,
      route,
      error: error instanceof RouteError && error.cause !== undefined ? error.cause : error,
    });
    this.#reply(session, ErrorCode.internal, "The request could not be handled", id);
  }

  #reply(session: Session, code: ErrorCode, message: string, id?: number): void {
    this.#events.onErrorReplied(code);
    this.#writer.write(session, encodeError(code, message, id));
  }

  #protocolError(session: Session, code: ErrorCode, message: string, id?: number): void {
    this.#reply(session, code, message, id);
    session.protocolErrors++;
    this.#logger.debug("protocol error", {
      session: session.id,
      code,
      count: session.protocolErrors,
    });
    if (session.protocolErrors >= this.#maxProtocolErrors) {
      this.#logger.warn("closing session after too many protocol errors", {
        session: session.id,
        count: session.protocolErrors,
      });
      this.close(session, DisconnectProtocolErrors);
    }
  }
}
