/**
 * The operators' HTTP endpoint: Prometheus metrics at `metrics.path`, the probes `/livez` and
 * `/readyz`, the `/health` report, in cluster mode `/cluster`, the registry's table of nodes,
 * services and instances as JSON, and while QUIC runs on development certificates
 * `/dev-cert-hash`, the hash browsers need to trust them for WebTransport.
 *
 * @module
 */
import type { GatewayConfig } from "../config/config.ts";
import type { EventLoopLagMonitor } from "./event_loop_lag.ts";
import type { Logger } from "../core/logger.ts";
import type { GatewayMetrics, ScrapeState } from "./metrics.ts";
import { ResilientServer } from "../transport/resilient_server.ts";

/** Gateway states reported by `/health`. */
export type HealthStatus = "ok" | "degraded" | "draining";

/** The body of a `/health` answer. */
export interface HealthReport {
  /** `ok` (200); `degraded` (503 while a listener is down and retrying, 200 while only NATS
   * is down); `draining` (503). */
  status: HealthStatus;
  /** Seconds since start. */
  uptime_sec: number;
  /** Live sessions. */
  sessions: number;
  /** Whether each enabled listener is accepting. */
  listeners: Record<string, boolean>;
  /** Cluster mode only: this node and whether NATS is reachable. */
  cluster?: { node_id: string; nats: "connected" | "down" };
}

/** A probe's answer: 200 `ok`, or 503 `not ready`. */
export function probe(ok: boolean): Response {
  return new Response(ok ? "ok\n" : "not ready\n", {
    status: ok ? 200 : 503,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}

/**
 * The `/dev-cert-hash` answer: `{"algorithm":"sha-256","value":"<base64>"}`, the shape of one
 * entry of WebTransport's `serverCertificateHashes` once the page decodes `value`. Any origin
 * may read it, as a development page is served from elsewhere; the hash is no secret (the
 * certificate goes to every client in the TLS handshake).
 */
export function devCertHashResponse(hash: string): Response {
  return Response.json({ algorithm: "sha-256", value: hash }, {
    headers: { "access-control-allow-origin": "*", "cache-control": "no-store" },
  });
}

/** Options for {@linkcode MetricsServer}. */
export interface MetricsServerOptions {
  /** The `metrics` config section. */
  config: GatewayConfig["metrics"];
  /** Counters to render. */
  metrics: GatewayMetrics;
  /** Live session counts. */
  state: ScrapeState;
  /** Event-loop lag samples. */
  lag: EventLoopLagMonitor;
  /** The current health report. */
  health: () => HealthReport;
  /** Whether the node takes new players now, for `/readyz`. */
  ready: () => boolean;
  /** The cluster registry's JSON view, in cluster mode (`/cluster`; 404 otherwise). */
  clusterView?: () => object;
  /**
   * The development leaf certificate's SHA-256, base64, while QUIC uses development
   * certificates (`/dev-cert-hash`; 404 otherwise).
   */
  devCertHash?: () => string | undefined;
  /** Logger for listener faults. */
  logger: Logger;
  /** Share the port with other gateway processes. */
  reusePort?: boolean;
}

/**
 * Serves `/metrics` (or the configured path), `/livez`, `/readyz`, `/health` and, in cluster
 * mode, `/cluster`.
 *
 * `/livez` answers 200 whenever it is answered at all: the process runs and its event loop
 * turns. `/readyz` answers 200 while the node takes new players and 503 otherwise.
 */
export class MetricsServer implements AsyncDisposable {
  readonly #options: MetricsServerOptions;
  readonly #server: ResilientServer;

  /**
   * Binds the listener.
   *
   * @throws {ListenError} when the port cannot be bound.
   */
  constructor(options: MetricsServerOptions) {
    this.#options = options;
    this.#server = new ResilientServer({
      name: "metrics",
      hostname: options.config.host,
      port: options.config.port,
      reusePort: options.reusePort,
      handler: (request) => this.#handle(request),
      logger: options.logger,
      onFailed: options.metrics.onListenerFailed,
      onRestarted: options.metrics.onListenerRestarted,
    });
  }

  /** The bound address. */
  get addr(): Deno.NetAddr {
    return this.#server.addr;
  }

  #handle(request: Request): Response {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method Not Allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    const { pathname } = new URL(request.url);
    if (pathname === this.#options.config.path) {
      const { metrics, state, lag } = this.#options;
      const body = metrics.render(state, { latestMs: lag.latestMs, maxMs: lag.takeMaxMs() });
      return new Response(body, {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    }
    if (pathname === "/livez") return probe(true);
    if (pathname === "/readyz") return probe(this.#options.ready());
    if (pathname === "/health") {
      const report = this.#options.health();
      const listenerDown = Object.values(report.listeners).includes(false);
      const unavailable = report.status === "draining" || listenerDown;
      return Response.json(report, { status: unavailable ? 503 : 200 });
    }
    if (pathname === "/cluster" && this.#options.clusterView) {
      return Response.json(this.#options.clusterView());
    }
    const hash = pathname === "/dev-cert-hash" ? this.#options.devCertHash?.() : undefined;
    if (hash !== undefined) return devCertHashResponse(hash);
    return new Response("Not Found\n", { status: 404 });
  }

  /** Stops serving; safe to call twice. */
  close(): Promise<void> {
    return this.#server.close();
  }

  /** Stops serving. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
