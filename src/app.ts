/**
 * Builds and runs the gateway from a config: sessions, pipeline, sweeper, listeners, metrics.
 * `main.ts` and the end-to-end tests both start the gateway through here.
 *
 * @module
 */
import { type GatewayConfig, websocketIdleTimeoutSec } from "./config.ts";
import { DisconnectShutdown } from "./disconnect.ts";
import { EventLoopLagMonitor } from "./event_loop_lag.ts";
import { Gateway } from "./gateway.ts";
import { HeartbeatSweeper } from "./heartbeat_sweeper.ts";
import { Logger } from "./logger.ts";
import { GatewayMetrics } from "./metrics.ts";
import { type HealthReport, MetricsServer } from "./metrics_server.ts";
import { MemoryBroker } from "./broker_memory.ts";
import { Hub } from "./hub.ts";
import { echo, Router } from "./router.ts";
import { LocalServiceHost } from "./service_host_local.ts";
import { chatService } from "./services/chat.ts";
import { SessionManager } from "./session_manager.ts";
import { pongHookAvailable } from "./transport_websocket.ts";
import { WebSocketServer } from "./websocket_server.ts";

/** Options for {@linkcode startGateway}. */
export interface StartGatewayOptions {
  /** Logger; defaults to JSON lines on stderr at the configured level. */
  logger?: Logger;
  /** Routes served in-process; defaults to {@linkcode createDefaultRouter}. */
  router?: Router;
}

/** The routes `deno task gateway` serves: the built-in `echo` and the `chat` example. */
export function createDefaultRouter(): Router {
  return new Router().register("echo", echo).addService(chatService);
}

/** A running gateway. Dispose it (or call `shutdown`) to stop it. */
export class RunningGateway implements AsyncDisposable {
  /** Every counter the gateway keeps. */
  readonly metrics: GatewayMetrics;
  /** The live sessions. */
  readonly sessions: SessionManager;
  /** Users and groups on this node. */
  readonly hub: Hub;
  readonly #websocket: WebSocketServer | undefined;
  readonly #metricsServer: MetricsServer | undefined;
  readonly #sweeper: HeartbeatSweeper;
  readonly #lag: EventLoopLagMonitor;
  readonly #logger: Logger;
  readonly #startedAt = performance.now();
  #draining = false;
  #stopped: Promise<void> | undefined;

  /** Use {@linkcode startGateway}. */
  constructor(config: GatewayConfig, options: StartGatewayOptions = {}) {
    this.#logger = options.logger ?? new Logger(config.log.level);
    this.metrics = new GatewayMetrics();
    this.sessions = new SessionManager({
      events: [this.metrics, { onSessionClosed: (s, d) => this.hub.onSessionClosed(s, d) }],
    });
    // Pushes are written through the gateway so they are counted like replies.
    const hub = this.hub = new Hub(this.sessions, (s, text) => gateway.sendEncoded(s, text));
    const gateway: Gateway = new Gateway({
      sessions: this.sessions,
      services: new LocalServiceHost({
        router: options.router ?? createDefaultRouter(),
        hub,
        broker: new MemoryBroker(hub),
      }),
      requestTimeoutMs: config.routing.request_timeout_ms,
      events: this.metrics,
      logger: this.#logger.child({ component: "gateway" }),
      maxMessageBytes: config.protocol.max_message_bytes,
      maxProtocolErrors: config.protocol.max_protocol_errors,
    });
    this.#lag = new EventLoopLagMonitor();
    this.#sweeper = new HeartbeatSweeper(this.sessions, {
      ttlMs: config.session.heartbeat_ttl_sec * 1000,
      intervalMs: config.session.check_interval_sec * 1000,
      onSweep: (closed, durationMs) => {
        this.metrics.onSweep(closed, durationMs);
        if (closed > 0) {
          this.#logger.info("heartbeat sweep closed idle sessions", {
            closed,
            duration_ms: durationMs,
          });
        }
      },
    });
    try {
      if (config.websocket.enabled) {
        if (!pongHookAvailable) {
          this.#logger.warn(
            "this Deno does not expose WebSocket pongs; only data frames refresh sessions",
          );
        }
        this.#websocket = new WebSocketServer({
          config: config.websocket,
          idleTimeoutSec: websocketIdleTimeoutSec(config.session),
          gateway,
          events: this.metrics,
          logger: this.#logger.child({ component: "websocket" }),
        });
        const { hostname, port } = this.#websocket.addr;
        this.#logger.info("websocket listening", {
          url: `ws://${hostname}:${port}${config.websocket.path}`,
          max_connections: config.websocket.max_connections,
        });
      }
      if (config.metrics.enabled) {
        this.#metricsServer = new MetricsServer({
          config: config.metrics,
          metrics: this.metrics,
          state: this.sessions,
          lag: this.#lag,
          health: () => this.health(),
          logger: this.#logger.child({ component: "metrics" }),
        });
        const { hostname, port } = this.#metricsServer.addr;
        this.#logger.info("metrics listening", {
          url: `http://${hostname}:${port}${config.metrics.path}`,
          health: `http://${hostname}:${port}/health`,
        });
      }
    } catch (error) {
      this.#lag.stop();
      // Release whatever did bind before rethrowing the listen error.
      void this.#websocket?.close();
      throw error;
    }
    this.#sweeper.start();
  }

  /** The WebSocket listener's address, when enabled. */
  get websocketAddr(): Deno.NetAddr | undefined {
    return this.#websocket?.addr;
  }

  /** The metrics listener's address, when enabled. */
  get metricsAddr(): Deno.NetAddr | undefined {
    return this.#metricsServer?.addr;
  }

  /** Whether shutdown has begun. */
  get draining(): boolean {
    return this.#draining;
  }

  /** The `/health` report. */
  health(): HealthReport {
    const listeners: Record<string, boolean> = {};
    if (this.#websocket) listeners.websocket = this.#websocket.listening;
    const down = Object.values(listeners).includes(false);
    return {
      status: this.#draining ? "draining" : down ? "degraded" : "ok",
      uptime_sec: Math.round((performance.now() - this.#startedAt) / 1000),
      sessions: this.sessions.size,
      listeners,
    };
  }

  /**
   * Stops the gateway: refuses new sessions, closes live ones with 1001 `going away`, waits
   * for their close handshakes up to `graceMs`, then closes the listeners. Safe to call twice.
   */
  shutdown(graceMs = 0): Promise<void> {
    this.#stopped ??= this.#shutdown(graceMs);
    return this.#stopped;
  }

  async #shutdown(graceMs: number): Promise<void> {
    this.#draining = true;
    this.#websocket?.drain();
    this.#sweeper.stop();
    const closed = this.sessions.closeAll(DisconnectShutdown);
    this.#logger.info("draining", { sessions_closed: closed, grace_ms: graceMs });
    await this.#websocket?.socketsClosed(AbortSignal.timeout(graceMs));
    const left = this.#websocket?.openSockets ?? 0;
    if (left > 0) this.#logger.warn("grace period over; dropping connections", { left });
    await this.#websocket?.close();
    await this.#metricsServer?.close();
    this.#lag.stop();
    this.#logger.info("stopped");
  }

  /** Shuts down with a one-second grace. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown(1_000);
  }
}

/**
 * Starts a gateway with `config`.
 *
 * @throws {ListenError} when a listener cannot bind.
 */
export function startGateway(
  config: GatewayConfig,
  options: StartGatewayOptions = {},
): RunningGateway {
  return new RunningGateway(config, options);
}
