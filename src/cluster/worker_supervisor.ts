/**
 * `--workers N`: runs N gateway processes on one machine that share the WebSocket port with
 * `SO_REUSEPORT`, so one machine holds more sessions than one process's open-files limit
 * allows and uses every core. This process (the supervisor) serves no players: it starts the
 * workers, restarts any that die, merges their metrics, health and readiness on the configured
 * metrics port, and passes SIGINT/SIGTERM on to them.
 *
 * Workers are separate gateway nodes: groups and pushes reach across them only in cluster mode
 * (`cluster.nats.servers`).
 *
 * @module
 */
import type { GatewayConfig } from "../config/config.ts";
import { denoRunArgs } from "../config/deno_run.ts";
import type { Logger } from "../core/logger.ts";
import { mergeWorkerMetrics } from "./metrics_merge.ts";
import { probe } from "../ops/metrics_server.ts";
import { ResilientServer } from "../transport/resilient_server.ts";

/** Environment variable that tells a gateway process it is worker `index` of a supervisor. */
export const WORKER_ENV = "GATEWAY_WORKER";

/** What the supervisor tells a worker through {@linkcode WORKER_ENV}. */
export interface WorkerAssignment {
  /** 0-based worker number, used as the `worker` metric label. */
  index: number;
  /** The shared WebSocket port (bound with `reusePort`). */
  websocketPort: number;
}

/**
 * Reads this process's worker assignment, if it is a worker.
 *
 * @throws {TypeError} when the variable is set but malformed.
 */
export function readWorkerAssignment(): WorkerAssignment | undefined {
  const raw = Deno.env.get(WORKER_ENV);
  if (!raw) return undefined;
  const value = JSON.parse(raw) as Partial<WorkerAssignment>;
  if (!Number.isInteger(value.index) || !Number.isInteger(value.websocketPort)) {
    throw new TypeError(`Invalid ${WORKER_ENV}: ${raw}`);
  }
  return value as WorkerAssignment;
}

/**
 * The config a worker runs with: the shared WebSocket port, a private metrics listener on
 * loopback (the supervisor serves the public one), and QUIC on worker 0 only, since UDP
 * listeners are not shared.
 */
export function workerConfig(config: GatewayConfig, assignment: WorkerAssignment): GatewayConfig {
  return {
    ...config,
    websocket: { ...config.websocket, port: assignment.websocketPort },
    quic: { ...config.quic, enabled: config.quic.enabled && assignment.index === 0 },
    metrics: { ...config.metrics, enabled: true, host: "127.0.0.1", port: 0 },
  };
}

/** Worker 0 exited before it listened; its own log lines, passed through, say why. */
export class WorkerStartError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WorkerStartError";
  }
}

/** One worker process. */
class Worker {
  readonly child: Deno.ChildProcess;
  metricsPort: number | undefined;
  readonly websocketPort = Promise.withResolvers<number>();
  readonly exited: Promise<Deno.CommandStatus>;

  constructor(readonly index: number, command: string[], env: Record<string, string>) {
    this.child = new Deno.Command(command[0], {
      args: command.slice(1),
      env,
      stdin: "null",
      stdout: "inherit",
      stderr: "piped",
    }).spawn();
    this.exited = this.child.status;
    void this.#pipeLogs();
  }

  /** Passes the worker's JSON log lines through, noting its ports on the way. */
  async #pipeLogs(): Promise<void> {
    const encoder = new TextEncoder();
    let pending = "";
    for await (const chunk of this.child.stderr.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      let newline;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        this.#note(line);
        try {
          Deno.stderr.writeSync(encoder.encode(line + "\n"));
        } catch {
          // stderr closed: keep draining so the worker never blocks
        }
      }
    }
    this.websocketPort.reject(new Error(`worker ${this.index} exited before listening`));
  }

  #note(line: string): void {
    if (!line.includes("listening")) return;
    try {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === "websocket listening" && entry.url) {
        this.websocketPort.resolve(Number(new URL(entry.url).port));
      } else if (entry.msg === "metrics listening" && entry.url) {
        this.metricsPort = Number(new URL(entry.url).port);
      }
    } catch {
      // not one of ours
    }
  }
}

/** Options for {@linkcode WorkerSupervisor}. */
export interface WorkerSupervisorOptions {
  /** How many workers. */
  count: number;
  /** The validated config (for ports and grace). */
  config: GatewayConfig;
  /** Arguments to pass each worker (the same `--config`). */
  args: string[];
  /** The supervisor's logger. */
  logger: Logger;
}

/** Starts, watches and stops gateway workers. */
export class WorkerSupervisor implements AsyncDisposable {
  readonly #options: WorkerSupervisorOptions;
  readonly #workers: Worker[] = [];
  #websocketPort = 0;
  #metrics: ResilientServer | undefined;
  #stopping = false;
  readonly #startedAt = performance.now();

  /** Creates a supervisor; call {@linkcode start}. */
  constructor(options: WorkerSupervisorOptions) {
    this.#options = options;
  }

  #spawn(index: number): Worker {
    const command = Deno.build.standalone ? [Deno.execPath(), ...this.#options.args] : [
      Deno.execPath(),
      ...denoRunArgs("gateway"),
      new URL("../../main.ts", import.meta.url).pathname,
      ...this.#options.args,
    ];
    const assignment: WorkerAssignment = { index, websocketPort: this.#websocketPort };
    const worker = new Worker(index, command, { [WORKER_ENV]: JSON.stringify(assignment) });
    this.#workers[index] = worker;
    worker.exited.then((status) => {
      if (this.#stopping || this.#workers[index] !== worker) return;
      this.#options.logger.error("worker exited; restarting in 1 s", {
        worker: index,
        code: status.code,
      });
      setTimeout(() => {
        if (!this.#stopping) this.#spawn(index);
      }, 1_000);
    });
    return worker;
  }

  /**
   * Starts the workers and the public metrics listener.
   *
   * @throws {WorkerStartError} when worker 0 does not come up (its own log says why).
   * @throws {ListenError} when the metrics port cannot be bound.
   */
  async start(): Promise<void> {
    const { config, count, logger } = this.#options;
    this.#websocketPort = config.websocket.port;
    const first = this.#spawn(0);
    if (config.websocket.enabled) {
      // Worker 0 picks the port when the config says 0; the others share it.
      try {
        this.#websocketPort = await first.websocketPort.promise;
      } catch (error) {
        await this.shutdown();
        throw new WorkerStartError("Worker 0 exited before listening; see its log above", {
          cause: error,
        });
      }
    }
    for (let i = 1; i < count; i++) this.#spawn(i);
    if (config.metrics.enabled) {
      this.#metrics = new ResilientServer({
        name: "metrics",
        hostname: config.metrics.host,
        port: config.metrics.port,
        logger,
        handler: (request) => this.#handle(request),
      });
      const { hostname, port } = this.#metrics.addr;
      logger.info("metrics listening", {
        url: `http://${hostname}:${port}${config.metrics.path}`,
        health: `http://${hostname}:${port}/health`,
        workers: count,
      });
    }
    logger.info("workers started", { workers: count, websocket_port: this.#websocketPort });
  }

  async #fetchEach(path: string): Promise<(Response | null)[]> {
    return await Promise.all(this.#workers.map(async (worker) => {
      if (worker.metricsPort === undefined) return null;
      try {
        return await fetch(`http://127.0.0.1:${worker.metricsPort}${path}`, {
          signal: AbortSignal.timeout(2_000),
        });
      } catch {
        return null;
      }
    }));
  }

  async #handle(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === this.#options.config.metrics.path) {
      const texts = await Promise.all(
        (await this.#fetchEach(this.#options.config.metrics.path)).map((r) => r?.text() ?? null),
      );
      return new Response(mergeWorkerMetrics(texts), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    }
    if (pathname === "/livez") return probe(true);
    if (pathname === "/readyz") {
      // Ready while any worker is: the kernel hands new connections to the listening ones.
      const answers = await this.#fetchEach("/readyz");
      await Promise.all(answers.map((r) => r?.body?.cancel()));
      return probe(!this.#stopping && answers.some((r) => r?.ok));
    }
    if (pathname === "/health") {
      const reports = await Promise.all(
        (await this.#fetchEach("/health")).map(async (r) =>
          r ? await r.json() as { status: string; sessions: number } : null
        ),
      );
      const allOk = reports.every((r) => r?.status === "ok");
      const status = this.#stopping ? "draining" : allOk ? "ok" : "degraded";
      return Response.json({
        status,
        uptime_sec: Math.round((performance.now() - this.#startedAt) / 1000),
        sessions: reports.reduce((sum, r) => sum + (r?.sessions ?? 0), 0),
        workers: reports.map((r) => r?.status ?? "down"),
      }, { status: status === "ok" ? 200 : 503 });
    }
    return new Response("Not Found\n", { status: 404 });
  }

  /** Asks every worker to shut down and waits up to the grace period plus 2 s. */
  async shutdown(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const worker of this.#workers) {
      try {
        worker.child.kill("SIGTERM");
      } catch {
        // already gone
      }
    }
    const deadline = this.#options.config.shutdown.grace_sec * 1000 + 2_000;
    const timer = setTimeout(() => {
      for (const worker of this.#workers) {
        try {
          worker.child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
    }, deadline);
    await Promise.all(this.#workers.map((worker) => worker.exited));
    clearTimeout(timer);
    await this.#metrics?.close();
    this.#options.logger.info("stopped");
  }

  /** Shuts the workers down. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}
