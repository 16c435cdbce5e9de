/**
 * Builds and runs the gateway from a config: sessions, pipeline, sweeper, listeners, metrics.
 * `main.ts` and the end-to-end tests both start the gateway through here.
 *
 * @module
 */
import type { GatewayConfig } from "./config/config.ts";
import { Authenticator } from "./core/authenticator.ts";
import {
  DisconnectResumeElsewhere,
  DisconnectShutdown,
  DisconnectSlowConsumer,
} from "./core/disconnect.ts";
import { EventLoopLagMonitor } from "./ops/event_loop_lag.ts";
import { Gateway } from "./core/gateway.ts";
import { HeartbeatSweeper } from "./core/heartbeat_sweeper.ts";
import { RttProber } from "./core/rtt_prober.ts";
import { AdminApi } from "./ops/admin_api.ts";
import { AdminTokens } from "./ops/admin_auth.ts";
import { AdminNode } from "./ops/admin_node.ts";
import { AdminServer } from "./ops/admin_server.ts";
import { Logger } from "./core/logger.ts";
import { GatewayMetrics } from "./ops/metrics.ts";
import { readMaxFds, readOpenFds } from "./ops/process_metrics.ts";
import { type HealthReport, MetricsServer } from "./ops/metrics_server.ts";
import { Hub } from "./services/hub.ts";
import { echo, Router } from "./services/router.ts";
import { createRouting, type Routing } from "./cluster/routing.ts";
import type { ClusterRegistry } from "./cluster/registry.ts";
import { chatService } from "./services/chat.ts";
import { RateLimiter } from "./core/rate_limiter.ts";
import { ResumeTokens } from "./core/resume_token.ts";
import { SessionManager } from "./core/session_manager.ts";
import { SessionResumer } from "./core/session_resumer.ts";
import { SessionWriter } from "./core/session_writer.ts";
import type { TokenVerifier } from "./core/token_verifier.ts";
import { JwtVerifier } from "./core/token_verifier_jwt.ts";
import { pongHookAvailable } from "./transport/transport_websocket_deno.ts";
import { QuicServer } from "./transport/quic_server.ts";
import { ListenError } from "./transport/resilient_server.ts";
import { createDevTls, loadTlsFiles, type TlsMaterial } from "./transport/tls_certs.ts";
import type { WebSocketListener } from "./transport/websocket_listener.ts";
import { DenoWebSocketListener } from "./transport/websocket_listener_deno.ts";
import { GatewayWebSocketListener } from "./transport/websocket_listener_gateway.ts";

/** Options for {@linkcode startGateway}. */
export interface StartGatewayOptions {
  /** Logger; defaults to JSON lines on stderr at the configured level. */
  logger?: Logger;
  /** Routes served in-process; defaults to {@linkcode createDefaultRouter}. */
  router?: Router;
  /** Share the WebSocket port with other processes (`--workers`). */
  reusePort?: boolean;
  /**
   * Verifies player tokens with `auth.mode: "jwt"`; loaded from `auth.jwt` when absent, and
   * then `ready` rejects with a `TokenKeyError` if the key is unusable.
   */
  tokenVerifier?: TokenVerifier;
  /**
   * The admin API's tokens (`main.ts` reads them at start, so a bad one exits 2 before anything
   * binds); read from `Deno.env` when absent and `admin.enabled` is on.
   */
  adminTokens?: AdminTokens;
}

/**
 * The routes the gateway serves in-process: the built-in `echo`, and the bundled `chat`
 * example unless `routing.embedded_services` is off (then service processes serve it).
 */
export function createDefaultRouter(embeddedServices = true): Router {
  const router = new Router().register("echo", echo);
  return embeddedServices ? router.addService(chatService) : router;
}

/** A gateway running in this process, as a program that embeds it sees it. */
export interface GatewayServer extends AsyncDisposable {
  /**
   * Resolves once every listener is up.
   *
   * @throws {TlsCertError} when the QUIC certificate or key file is unusable.
   * @throws {ListenError} when the QUIC port cannot be bound.
   * @throws {TokenKeyError} when the `auth.jwt` key is unusable.
   */
  readonly ready: Promise<void>;
  /** The WebSocket listener's address, when enabled. */
  readonly websocketAddr: Deno.NetAddr | undefined;
  /** The QUIC listener's (UDP) address, once `ready` has resolved with QUIC enabled. */
  readonly quicAddr: { hostname: string; port: number } | undefined;
  /** The metrics listener's address, when enabled. */
  readonly metricsAddr: Deno.NetAddr | undefined;
  /** The admin listener's address, when `admin.enabled`. */
  readonly adminAddr: Deno.NetAddr | undefined;
  /** The `/health` report. */
  health(): HealthReport;
  /**
   * Whether the node takes new players now (`/readyz`): every listener is up and it is not
   * draining.
   */
  readonly accepting: boolean;
  /** Stops the gateway, giving sessions `graceMs` to close; safe to call twice. */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * A running gateway with its parts exposed (metrics, sessions, hub) for tests and tools. Dispose
 * it (or call `shutdown`) to stop it.
 */
export class RunningGateway implements GatewayServer {
  /** Every counter the gateway keeps. */
  readonly metrics: GatewayMetrics;
  /** The live sessions. */
  readonly sessions: SessionManager;
  /** Users and groups on this node. */
  readonly hub: Hub;
  readonly #websocket: WebSocketListener | undefined;
  readonly #metricsServer: MetricsServer | undefined;
  readonly #adminServer: AdminServer | undefined;
  readonly #prober: RttProber | undefined;
  #quic: QuicServer | undefined;
  /** The development leaf's hash while QUIC runs on development certificates. */
  #devCertHash: string | undefined;
  readonly #quicStarted: Promise<void>;
  readonly #keyLoaded: Promise<void>;
  readonly #authenticator: Authenticator | undefined;
  readonly #resumer: SessionResumer | undefined;
  readonly #shutdownConfig: GatewayConfig["shutdown"];
  readonly #sweeper: HeartbeatSweeper;
  readonly #lag: EventLoopLagMonitor;
  readonly #routing: Routing;
  readonly #logger: Logger;
  readonly #startedAt = performance.now();
  /** Set when every listener is up. */
  #started = false;
  /** Set when the node stops taking new players; `/readyz` answers 503 from then on. */
  #draining = false;
  #stopped: Promise<void> | undefined;

  /** Use {@linkcode startGateway}. */
  constructor(config: GatewayConfig, options: StartGatewayOptions = {}) {
    this.#logger = options.logger ?? new Logger(config.log.level);
    this.#shutdownConfig = config.shutdown;
    this.metrics = new GatewayMetrics();
    this.sessions = new SessionManager({ events: this.metrics });
    // Replies and pushes leave through one writer, so both are counted alike.
    const writer = new SessionWriter(this.metrics, {
      maxOutboundBytes: config.limits.max_outbound_bytes,
    });
    const hub = this.hub = new Hub(this.sessions, writer);
    this.sessions.observe(hub);
    const { auth } = config;
    const jwt = auth.mode === "jwt";
    this.#routing = createRouting(config, {
      sessions: this.sessions,
      hub,
      router: options.router ?? createDefaultRouter(config.routing.embedded_services),
      logger: this.#logger.child({ component: "cluster" }),
      logins: jwt && auth.duplicate_login !== "allow"
        ? {
          policy: auth.duplicate_login,
          evict: (session, disconnect) => this.#authenticator?.evict(session, disconnect),
        }
        : undefined,
    });
    const { session } = config;
    const resumeTokens = session.resume_window_sec > 0
      ? new ResumeTokens(this.#routing.cluster?.nodeId ?? "local", {
        maxBytes: session.resume_buffer_bytes,
        maxMessages: session.resume_buffer_messages,
      })
      : undefined;
    const verifier = jwt ? options.tokenVerifier ?? JwtVerifier.load(auth.jwt) : undefined;
    this.#keyLoaded = Promise.resolve(verifier).then(() => {});
    this.#keyLoaded.catch(() => {}); // handed to whoever awaits `ready`
    if (verifier) {
      this.#authenticator = new Authenticator({
        verifier,
        logins: this.#routing.logins,
        sessions: this.sessions,
        writer,
        users: hub,
        timeoutMs: auth.timeout_ms,
        expiryNoticeSec: auth.expiry_notice_sec,
        leewaySec: auth.jwt.leeway_sec,
        events: this.metrics,
        logger: this.#logger.child({ component: "auth" }),
        resumeTokens,
      });
      this.sessions.observe(this.#authenticator);
    }
    if (resumeTokens) {
      this.#resumer = new SessionResumer({
        sessions: this.sessions,
        writer,
        memberships: hub,
        tokens: resumeTokens,
        windowMs: session.resume_window_sec * 1000,
        auth: this.#authenticator,
        remote: this.#routing.takeover,
        events: this.metrics,
        logger: this.#logger.child({ component: "resume" }),
      });
      this.sessions.observe(this.#resumer);
      this.#routing.takeover?.serve(this.#resumer);
    }
    const { limits } = config;
    const rateLimiter = RateLimiter.from({
      messagesPerSec: limits.messages_per_sec,
      burst: limits.burst,
      routes: limits.routes,
      maxViolations: limits.max_rate_violations,
      violationWindowMs: limits.rate_violation_window_sec * 1000,
    });
    // Each limited route is listed from the start, at zero, like every labelled counter.
    for (const route of rateLimiter?.limitedRoutes ?? []) this.metrics.rateLimited.set(route, 0);
    const gateway = new Gateway({
      sessions: this.sessions,
      services: this.#routing.services,
      writer,
      requestTimeoutMs: config.routing.request_timeout_ms,
      events: this.metrics,
      logger: this.#logger.child({ component: "gateway" }),
      maxMessageBytes: config.protocol.max_message_bytes,
      maxProtocolErrors: config.protocol.max_protocol_errors,
      authenticator: this.#authenticator,
      resumer: this.#resumer,
      rateLimiter,
    });
    writer.onSlowConsumer((slow) => gateway.close(slow, DisconnectSlowConsumer));
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
    const adminNode = new AdminNode({
      nodeId: this.#routing.cluster?.nodeId ?? (config.cluster.node_id || "local"),
      sessions: this.sessions,
      hub,
      logger: this.#logger.child({ component: "admin" }),
    });
    // Every node answers admin requests for its sessions, whether or not it serves the API.
    const adminCluster = this.#routing.serveAdmin(adminNode, {
      timeoutMs: config.admin.scatter_timeout_ms,
      // A node request is a push body plus a few short fields.
      maxRequestBytes: config.admin.max_body_bytes + 4_096,
    });
    if (config.session.rtt_probe_interval_sec > 0) {
      this.#prober = new RttProber(this.sessions, writer, {
        intervalMs: config.session.rtt_probe_interval_sec * 1000,
        idleMs: config.session.rtt_probe_idle_sec * 1000,
      });
    }
    try {
      if (config.websocket.enabled) {
        const engine = config.websocket.engine;
        if (engine === "deno" && !pongHookAvailable) {
          this.#logger.warn(
            "this Deno does not expose WebSocket pongs; only data frames refresh sessions",
          );
        }
        const Listener = engine === "deno" ? DenoWebSocketListener : GatewayWebSocketListener;
        this.#websocket = new Listener({
          config,
          reusePort: options.reusePort,
          gateway,
          events: this.metrics,
          logger: this.#logger.child({ component: "websocket" }),
          descriptors: { open: () => readOpenFds(), limit: readMaxFds },
        });
        const { hostname, port } = this.#websocket.addr;
        this.#logger.info("websocket listening", {
          url: `ws://${hostname}:${port}${config.websocket.path}`,
          engine,
          max_connections: config.websocket.max_connections,
        });
      }
      if (config.metrics.enabled) {
        const sessions = this.sessions;
        this.#metricsServer = new MetricsServer({
          config: config.metrics,
          metrics: this.metrics,
          state: {
            count: (kind) => this.sessions.count(kind),
            get size() {
              return sessions.size;
            },
            get detached() {
              return sessions.detachedCount;
            },
            cluster: this.#routing.cluster,
          },
          lag: this.#lag,
          health: () => this.health(),
          clusterView: this.#routing.registry && (() => this.#routing.registry!.view()),
          devCertHash: () => this.#devCertHash,
          ready: () => this.accepting,
          logger: this.#logger.child({ component: "metrics" }),
        });
        const { hostname, port } = this.#metricsServer.addr;
        this.#logger.info("metrics listening", {
          url: `http://${hostname}:${port}${config.metrics.path}`,
          health: `http://${hostname}:${port}/health`,
        });
      }
      if (config.admin.enabled) {
        const logger = this.#logger.child({ component: "admin" });
        const tokens = options.adminTokens ??
          AdminTokens.fromEnv(config.admin, Deno.env.toObject(), "(startGateway)");
        this.#adminServer = new AdminServer({
          hostname: config.admin.host,
          port: config.admin.port,
          api: new AdminApi({
            config: config.admin,
            tokens,
            cluster: adminCluster,
            local: adminNode,
            logger,
          }),
          logger,
          events: this.metrics,
        });
        const { hostname, port } = this.#adminServer.addr;
        logger.info("admin listening", {
          url: `http://${hostname}:${port}/admin`,
          tokens: tokens.size,
        });
      }
    } catch (error) {
      this.#lag.stop();
      this.#authenticator?.[Symbol.dispose]();
      this.#resumer?.[Symbol.dispose]();
      // Release whatever did bind, and the cluster link and its timers, before rethrowing.
      void this.#websocket?.close();
      void this.#metricsServer?.close();
      void this.#routing[Symbol.asyncDispose]();
      throw error;
    }
    this.#quicStarted = config.quic.enabled
      ? this.#startQuic(
        config.quic,
        config.protocol.max_message_bytes,
        config.limits.handshake_timeout_ms,
        config.quic.webtransport.allowed_origins ?? config.websocket.allowed_origins,
        gateway,
      )
      : Promise.resolve();
    // A failure is handled here; `ready` hands it to whoever starts the gateway.
    this.#quicStarted.then(() => {
      this.#started = true;
    }, () => {});
    this.#sweeper.start();
    this.#prober?.start();
  }

  /**
   * Resolves once every listener is up. QUIC starts asynchronously (certificates, engine).
   *
   * @throws {TlsCertError} when the QUIC certificate or key file is unusable.
   * @throws {ListenError} when the QUIC port cannot be bound.
   * @throws {TokenKeyError} when the `auth.jwt` key is unusable.
   */
  get ready(): Promise<void> {
    return Promise.all([this.#quicStarted, this.#keyLoaded]).then(() => {});
  }

  async #startQuic(
    config: GatewayConfig["quic"],
    maxMessageBytes: number,
    streamTimeoutMs: number,
    allowedOrigins: readonly string[],
    gateway: Gateway,
  ): Promise<void> {
    const logger = this.#logger.child({ component: "quic" });
    let tls: TlsMaterial;
    let devCertHash: string | undefined;
    if (config.cert_file !== undefined && config.key_file !== undefined) {
      tls = await loadTlsFiles(config.cert_file, config.key_file);
    } else {
      const dev = await createDevTls(config.dev_ca_dir, [config.host, Deno.hostname()]);
      logger.warn("no quic.cert_file set; using a development CA (trust it on clients)", {
        ca_file: dev.caFile,
        ca_sha256: dev.caFingerprint,
        ca_created: dev.caCreated,
        // Browsers trust the leaf by this hash (WebTransport serverCertificateHashes).
        cert_hash_sha256_base64: dev.certificateHash,
        cert_created: dev.leafCreated,
      });
      tls = dev;
      devCertHash = dev.certificateHash;
    }
    let quic: QuicServer;
    try {
      quic = await QuicServer.start({
        config,
        maxMessageBytes,
        streamTimeoutMs,
        tls,
        gateway,
        events: this.metrics,
        logger,
        allowedOrigins,
      });
    } catch (error) {
      throw new ListenError("quic", config.host, config.port, { cause: error });
    }
    this.#quic = quic;
    this.#devCertHash = devCertHash;
    if (this.#draining) quic.drain();
    const { hostname, port } = quic.addr;
    logger.info("quic listening", {
      addr: `${hostname}:${port}`,
      engine: config.engine,
      alpn: config.alpn,
      cert_sha256: tls.fingerprint,
      max_connections: config.max_connections,
      ...(quic.webTransport && {
        webtransport: `https://${hostname}:${port}${config.webtransport.path}`,
      }),
    });
  }

  /** The WebSocket listener's address, when enabled. */
  get websocketAddr(): Deno.NetAddr | undefined {
    return this.#websocket?.addr;
  }

  /**
   * The cluster's gateway nodes, service processes and routes, in cluster mode: whether a
   * node is alive, the list of nodes with session counts, the JSON view (`/cluster`).
   */
  get registry(): ClusterRegistry | undefined {
    return this.#routing.registry;
  }

  /** The QUIC listener's (UDP) address, once `ready` has resolved with QUIC enabled. */
  get quicAddr(): { hostname: string; port: number } | undefined {
    return this.#quic?.addr;
  }

  /** The metrics listener's address, when enabled. */
  get metricsAddr(): Deno.NetAddr | undefined {
    return this.#metricsServer?.addr;
  }

  /** The admin listener's address, when `admin.enabled`. */
  get adminAddr(): Deno.NetAddr | undefined {
    return this.#adminServer?.addr;
  }

  /**
   * Whether the node takes new players now (`/readyz`): every listener is up and it is not
   * draining.
   */
  get accepting(): boolean {
    if (!this.#started || this.#draining) return false;
    return (this.#websocket?.listening ?? true) && (this.#quic?.listening ?? true);
  }

  /** The `/health` report. */
  health(): HealthReport {
    const listeners: Record<string, boolean> = {};
    if (this.#websocket) listeners.websocket = this.#websocket.listening;
    if (this.#quic) listeners.quic = this.#quic.listening;
    const down = Object.values(listeners).includes(false);
    const cluster = this.#routing.cluster;
    const natsDown = cluster !== undefined && !cluster.natsConnected;
    return {
      status: this.#draining ? "draining" : down || natsDown ? "degraded" : "ok",
      uptime_sec: Math.round((performance.now() - this.#startedAt) / 1000),
      sessions: this.sessions.size,
      listeners,
      ...(cluster && {
        cluster: { node_id: cluster.nodeId, nats: cluster.natsConnected ? "connected" : "down" },
      }),
    };
  }

  /**
   * Stops the gateway (a drain): `/readyz` answers 503 at once; after `shutdown.prestop_sec`
   * it refuses new sessions and tells live ones to go, `shutdown.close_batch` per
   * `shutdown.close_interval_ms`: resumable ones with 4004 (resume elsewhere), the others with
   * 1001. Then it waits up to `graceMs` for their connections to close and, in a cluster, for
   * other nodes to take over the detached sessions, ends what is left, and closes the
   * listeners. Safe to call twice.
   */
  shutdown(graceMs = 0): Promise<void> {
    this.#stopped ??= this.#shutdown(graceMs);
    return this.#stopped;
  }

  async #shutdown(graceMs: number): Promise<void> {
    this.#draining = true;
    const { prestop_sec: prestopSec } = this.#shutdownConfig;
    if (prestopSec > 0) {
      this.#logger.info("draining: not ready, still serving", { prestop_sec: prestopSec });
      await delay(prestopSec * 1000);
    }
    this.#websocket?.drain();
    this.#quic?.drain();
    this.#sweeper.stop();
    this.#prober?.stop();
    await this.#quicStarted.catch(() => {});
    const closed = await this.#closeInBatches();
    this.#logger.info("draining", { sessions_closed: closed, grace_ms: graceMs });
    const grace = AbortSignal.timeout(graceMs);
    await this.#websocket?.socketsClosed(grace);
    await this.#quic?.connectionsClosed(grace);
    // Clients resume on other nodes, which take the detached sessions over from this one.
    if (this.#routing.takeover && this.#resumer) await this.sessions.empty(grace);
    const left = (this.#websocket?.openSockets ?? 0) + (this.#quic?.openConnections ?? 0);
    if (left > 0) this.#logger.warn("grace period over; dropping connections", { left });
    const stranded = this.sessions.endAll(DisconnectShutdown);
    if (stranded > 0 && this.#routing.takeover) {
      this.#logger.warn("sessions not resumed elsewhere in time", { sessions: stranded });
    }
    await this.#websocket?.close();
    await this.#quic?.close();
    this.#resumer?.[Symbol.dispose]();
    this.#authenticator?.[Symbol.dispose]();
    await this.#routing[Symbol.asyncDispose]();
    await this.#metricsServer?.close();
    await this.#adminServer?.close();
    this.#lag.stop();
    this.#logger.info("stopped");
  }

  /**
   * Tells every live session to go, `shutdown.close_batch` at a time: with 4004 (resume
   * elsewhere) where it can be resumed, else 1001. Returns how many.
   */
  async #closeInBatches(): Promise<number> {
    const { close_batch: batch, close_interval_ms: intervalMs } = this.#shutdownConfig;
    const live = [...this.sessions.values()].filter((session) => session.state === "live");
    let closed = 0;
    for (let start = 0; start < live.length; start += batch) {
      if (start > 0 && intervalMs > 0) await delay(intervalMs);
      for (const session of live.slice(start, start + batch)) {
        const disconnect = session.resume !== undefined
          ? DisconnectResumeElsewhere
          : DisconnectShutdown;
        if (this.sessions.close(session, disconnect)) closed++;
      }
    }
    return closed;
  }

  /** Shuts down with a one-second grace. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown(1_000);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
