/**
 * `--workers N`: runs N gateway processes on one machine that share the WebSocket port with
 * `SO_REUSEPORT`, so one machine holds more sessions than one process's open-files limit
 * allows and uses every core. This process (the supervisor) serves no players: it starts the
 * workers, restarts any that die (backing off while one keeps dying), merges their metrics,
 * health and readiness on the configured metrics port, and passes SIGINT/SIGTERM on to them.
 *
 * A worker learns its index and the shared port from {@linkcode WORKER_ENV}, and tells the
 * supervisor it is ready, with its ports, over its stdout (`worker_channel.ts`); its logs pass
 * through on stderr untouched, at whatever level. A worker that exits or stays silent past
 * `cluster.worker_start_timeout_sec` while starting fails the start with a
 * {@linkcode WorkerStartError} that names it.
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
import { readWorkerMessages, type WorkerMessage, type WorkerReady } from "./worker_channel.ts";
import { devCertHashResponse, probe } from "../ops/metrics_server.ts";
import { AdminApi } from "../ops/admin_api.ts";
import { AdminTokens } from "../ops/admin_auth.ts";
import { AdminServer } from "../ops/admin_server.ts";
import { ResilientServer } from "../transport/resilient_server.ts";
import { WorkersAdminCluster } from "./admin_cluster_workers.ts";

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
 * loopback (the supervisor serves the public one), QUIC on worker 0 only, since UDP
 * listeners are not shared, and a node id of its own (`<node_id>-w<index>`), since each worker
 * is a node of the cluster.
 */
export function workerConfig(config: GatewayConfig, assignment: WorkerAssignment): GatewayConfig {
  const nodeId = config.cluster.node_id;
  return {
    ...config,
    cluster: { ...config.cluster, node_id: nodeId && `${nodeId}-w${assignment.index}` },
    websocket: { ...config.websocket, port: assignment.websocketPort },
    quic: { ...config.quic, enabled: config.quic.enabled && assignment.index === 0 },
    metrics: { ...config.metrics, enabled: true, host: "127.0.0.1", port: 0 },
    admin: { ...config.admin, host: "127.0.0.1", port: 0 },
  };
}

/**
 * Worker `index`'s name in the supervisor's admin API: its cluster node id when the config
 * names the node, else `local-w<index>`.
 */
export function workerNodeId(config: GatewayConfig, index: number): string {
  return `${config.cluster.node_id || "local"}-w${index}`;
}

/**
 * A worker exited or stayed silent before it reported ready; the message names it, and its
 * own log lines, passed through on stderr, say why.
 */
export class WorkerStartError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WorkerStartError";
  }
}

/** First restart delay of a worker that died, as before backoff existed. */
const RESTART_DELAY_MIN_MS = 1_000;

/**
 * Longest restart delay: a worker that dies at once then costs little CPU, and a cause that
 * goes away (a port freed, a disk emptied) is picked up within half a minute.
 */
const RESTART_DELAY_MAX_MS = 30_000;

/** A worker that ran this long after it was ready ends a crash loop: its next restart is quick. */
const STABLE_RUN_MS = 60_000;

/**
 * How long to wait before restarting a worker that died after `failures` deaths in a row
 * (0 for the first): 1 s, doubling up to 30 s.
 */
export function restartDelayMs(failures: number): number {
  return Math.min(RESTART_DELAY_MIN_MS * 2 ** failures, RESTART_DELAY_MAX_MS);
}

/** How a process ended, for messages: "exited with code 1" or "was killed by SIGKILL". */
function describeExit(status: Deno.CommandStatus): string {
  return status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
}

/** One worker process and what it reported over its channel. */
class Worker {
  readonly child: Deno.ChildProcess;
  /** Settles once: with the worker's ports, or with why it never got there. */
  readonly ready = Promise.withResolvers<WorkerReady>();
  /** Resolves when the process has exited and its channel is drained. */
  readonly exited: Promise<Deno.CommandStatus>;
  report: WorkerReady | undefined;
  readyAt = 0;
  running = true;

  constructor(
    readonly index: number,
    command: string[],
    env: Record<string, string>,
    startTimeoutSec: number,
    logger: Logger,
  ) {
    this.child = new Deno.Command(command[0], {
      args: command.slice(1),
      env,
      // Never written: a worker reads it only to see it end, which means this supervisor is
      // gone (killed, crashed) and the worker should shut down rather than live on orphaned.
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const timer = setTimeout(() => {
      this.ready.reject(
        new WorkerStartError(
          `Worker ${index} did not report ready within ${startTimeoutSec} s ` +
            "(cluster.worker_start_timeout_sec); see its log above",
        ),
      );
    }, startTimeoutSec * 1000);
    const channel = readWorkerMessages(this.child.stdout, {
      onMessage: (message) => this.#receive(message, logger),
      onMalformed: (error, excerpt) => {
        logger.warn("worker wrote a line that is not a channel message", {
          worker: index,
          error: error.message,
          line: excerpt,
        });
      },
    });
    // `ready` settles exactly once, whichever comes first; that also clears the timer and
    // marks the rejection handled, as a restarted worker's failure is handled on its exit.
    this.ready.promise.then(() => clearTimeout(timer), () => clearTimeout(timer));
    const status = this.child.status.then((status) => {
      this.running = false;
      this.ready.reject(
        new WorkerStartError(
          `Worker ${index} ${describeExit(status)} before it was ready; see its log above`,
        ),
      );
      return status;
    });
    this.exited = Promise.all([status, channel]).then(([status]) => status);
  }

  /** The process id, for logs. */
  get pid(): number {
    return this.child.pid;
  }

  #receive(message: WorkerMessage, logger: Logger): void {
    if (message.worker !== this.index) {
      logger.warn("worker sent a message for another worker", {
        worker: this.index,
        type: message.type,
        claimed: message.worker,
      });
      return;
    }
    switch (message.type) {
      case "ready":
        this.report = message;
        this.readyAt = performance.now();
        this.ready.resolve(message);
        break;
    }
  }

  /** Sends `signal` unless the process is gone. */
  kill(signal: Deno.Signal): void {
    if (!this.running) return;
    try {
      this.child.kill(signal);
    } catch {
      // exited in the meantime
    }
  }
}

/** Options for {@linkcode WorkerSupervisor}. */
export interface WorkerSupervisorOptions {
  /** How many workers. */
  count: number;
  /** The validated config (ports, start timeout, grace). */
  config: GatewayConfig;
  /** Arguments to pass each worker (the same `--config`). */
  args: string[];
  /** The supervisor's logger. */
  logger: Logger;
  /** The admin API's tokens; read from `Deno.env` when absent and `admin.enabled` is on. */
  adminTokens?: AdminTokens;
}

/** Starts, watches and stops gateway workers. */
export class WorkerSupervisor implements AsyncDisposable {
  readonly #options: WorkerSupervisorOptions;
  readonly #workers: Worker[] = [];
  /** Deaths in a row of each worker index, for the restart backoff. */
  readonly #failures: number[] = [];
  readonly #restartTimers = new Set<ReturnType<typeof setTimeout>>();
  #websocketPort = 0;
  #metrics: ResilientServer | undefined;
  #admin: AdminServer | ResilientServer | undefined;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  readonly #startedAt = performance.now();

  /** Creates a supervisor; call {@linkcode start}. */
  constructor(options: WorkerSupervisorOptions) {
    this.#options = options;
  }

  /** The WebSocket port the workers share, once {@linkcode start} has resolved. */
  get websocketPort(): number {
    return this.#websocketPort;
  }

  /** The merged metrics and health listener's address, once started (when enabled). */
  get metricsAddr(): Deno.NetAddr | undefined {
    return this.#metrics?.addr;
  }

  /** The admin listener's address, once started (when `admin.enabled`). */
  get adminAddr(): Deno.NetAddr | undefined {
    return this.#admin?.addr;
  }

  /** Starts worker `index`; a `restart` handles its own start failures, a first start `start`. */
  #spawn(index: number, restart: boolean): Worker {
    const { args, config, logger } = this.#options;
    const command = Deno.build.standalone ? [Deno.execPath(), ...args] : [
      Deno.execPath(),
      ...denoRunArgs("gateway"),
      new URL("../../main.ts", import.meta.url).pathname,
      ...args,
    ];
    const assignment: WorkerAssignment = { index, websocketPort: this.#websocketPort };
    const worker = new Worker(
      index,
      command,
      { [WORKER_ENV]: JSON.stringify(assignment) },
      config.cluster.worker_start_timeout_sec,
      logger,
    );
    this.#workers[index] = worker;
    logger.info("worker started", { worker: index, pid: worker.pid });
    worker.ready.promise.then((report) => {
      logger.info("worker ready", {
        worker: index,
        pid: worker.pid,
        websocket_port: report.websocket_port,
        metrics_port: report.metrics_port,
      });
    }, (error) => {
      // A restarted worker that exits is restarted again on exit; one that hangs is killed
      // here, then restarted the same way.
      if (!restart || !worker.running || !this.#current(worker)) return;
      logger.error(error.message, { worker: index, pid: worker.pid });
      worker.kill("SIGKILL");
    });
    worker.exited.then((status) => {
      // A first start that never got ready fails `start` instead.
      if (restart || worker.report !== undefined) this.#restart(worker, status);
    });
    return worker;
  }

  /** Whether `worker` is still the one in its slot and the supervisor is not stopping. */
  #current(worker: Worker): boolean {
    return !this.#stopping && this.#workers[worker.index] === worker;
  }

  /** Restarts `worker`'s slot after it died, backing off while it keeps dying. */
  #restart(worker: Worker, status: Deno.CommandStatus): void {
    if (!this.#current(worker)) return;
    const { index } = worker;
    const stable = worker.report !== undefined &&
      performance.now() - worker.readyAt >= STABLE_RUN_MS;
    const failures = stable ? 0 : this.#failures[index] ?? 0;
    const delayMs = restartDelayMs(failures);
    this.#failures[index] = failures + 1;
    this.#options.logger.error("worker exited; restarting", {
      worker: index,
      pid: worker.pid,
      code: status.code,
      signal: status.signal,
      deaths_in_a_row: failures + 1,
      restart_in_ms: delayMs,
    });
    const timer = setTimeout(() => {
      this.#restartTimers.delete(timer);
      if (!this.#stopping) this.#spawn(index, true);
    }, delayMs);
    this.#restartTimers.add(timer);
  }

  /** Waits for `workers` to report ready; on the first failure stops everything and throws. */
  async #awaitReady(workers: Worker[]): Promise<void> {
    try {
      await Promise.all(workers.map((worker) => worker.ready.promise));
    } catch (error) {
      await this.shutdown();
      throw error;
    }
  }

  /**
   * Starts the workers and the public metrics listener. Each worker has
   * `cluster.worker_start_timeout_sec` to report ready over its channel.
   *
   * @throws {WorkerStartError} when a worker exits or stays silent before it is ready; every
   *   worker is stopped by then.
   * @throws {ListenError} when the metrics port cannot be bound.
   */
  async start(): Promise<void> {
    const { config, count, logger } = this.#options;
    this.#websocketPort = config.websocket.port;
    // Worker 0 picks the port when the config says 0; the others share it.
    const first = this.#spawn(0, false);
    await this.#awaitReady([first]);
    this.#websocketPort = first.report?.websocket_port ?? config.websocket.port;
    const others = [];
    for (let i = 1; i < count; i++) others.push(this.#spawn(i, false));
    await this.#awaitReady(others);
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
    if (config.admin.enabled) this.#startAdmin();
    logger.info("workers started", { workers: count, websocket_port: this.#websocketPort });
  }

  /**
   * Serves the admin API on `admin.host`:`admin.port`. With NATS every worker is a cluster node
   * that answers for the whole cluster, so requests go to one ready worker as they are. Without
   * NATS the workers know nothing of each other, so the supervisor asks each of them and
   * merges the answers itself.
   */
  #startAdmin(): void {
    const { config, logger } = this.#options;
    const tokens = this.#options.adminTokens ??
      AdminTokens.fromEnv(config.admin, Deno.env.toObject(), "(WorkerSupervisor)");
    const adminLogger = logger.child({ component: "admin" });
    if (config.cluster.nats.servers.length > 0) {
      this.#admin = new ResilientServer({
        name: "admin",
        hostname: config.admin.host,
        port: config.admin.port,
        logger: adminLogger,
        handler: (request, info) => this.#forwardAdmin(request, tokens, info.remoteAddr),
      });
    } else {
      this.#admin = new AdminServer({
        hostname: config.admin.host,
        port: config.admin.port,
        logger: adminLogger,
        api: new AdminApi({
          config: config.admin,
          tokens,
          logger: adminLogger,
          cluster: new WorkersAdminCluster({
            workers: () =>
              this.#workers.map((worker) => ({
                node: workerNodeId(config, worker.index),
                port: worker.running ? worker.report?.admin_port ?? undefined : undefined,
              })),
            token: tokens.anyToken,
            timeoutMs: config.admin.scatter_timeout_ms,
            logger: adminLogger,
          }),
        }),
      });
    }
    const { hostname, port } = this.#admin.addr;
    adminLogger.info("admin listening", {
      url: `http://${hostname}:${port}/admin`,
      tokens: tokens.size,
      mode: config.cluster.nats.servers.length > 0 ? "forward to a worker" : "ask every worker",
    });
  }

  /** Checks the token, then hands the request to a ready worker's private admin listener. */
  async #forwardAdmin(
    request: Request,
    tokens: AdminTokens,
    remote: Deno.NetAddr,
  ): Promise<Response> {
    const { config, logger } = this.#options;
    const url = new URL(request.url);
    const auth = tokens.check(request.headers.get("authorization"));
    if (!auth.ok) {
      logger.warn("admin request refused", {
        component: "admin",
        status: auth.status,
        method: request.method,
        path: url.pathname,
        remote: `${remote.hostname}:${remote.port}`,
      });
      await request.body?.cancel();
      return Response.json(
        { error: auth.status === 401 ? "unauthorized" : "forbidden", message: auth.message },
        { status: auth.status },
      );
    }
    const worker = this.#workers.find((worker) => worker.running && worker.report?.admin_port);
    if (!worker) {
      await request.body?.cancel();
      return Response.json(
        { error: "nodes_unreachable", message: "No worker is ready to answer" },
        { status: 503 },
      );
    }
    const headers = new Headers();
    for (const name of ["authorization", "content-type", "content-length"]) {
      const value = request.headers.get(name);
      if (value !== null) headers.set(name, value);
    }
    try {
      const answer = await fetch(
        `http://127.0.0.1:${worker.report!.admin_port}${url.pathname}${url.search}`,
        {
          method: request.method,
          headers,
          body: request.body,
          // The worker waits up to the scatter timeout for the other nodes.
          signal: AbortSignal.timeout(config.admin.scatter_timeout_ms + 5_000),
        },
      );
      return new Response(answer.body, { status: answer.status, headers: answer.headers });
    } catch (error) {
      logger.warn("admin request to a worker failed", {
        component: "admin",
        worker: worker.index,
        error,
      });
      return Response.json(
        { error: "nodes_unreachable", message: `Worker ${worker.index} did not answer` },
        { status: 502 },
      );
    }
  }

  async #fetchEach(path: string): Promise<(Response | null)[]> {
    return await Promise.all(this.#workers.map(async (worker) => {
      const port = worker.report?.metrics_port;
      if (port === undefined) return null;
      try {
        return await fetch(`http://127.0.0.1:${port}${path}`, {
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
    if (pathname === "/cluster") {
      // Every worker keeps the whole cluster's table: the first that answers speaks for all.
      const responses = await this.#fetchEach("/cluster");
      const first = responses.find((response) => response?.ok);
      await Promise.all(responses.map((r) => r === first ? undefined : r?.body?.cancel()));
      if (first) return Response.json(await first.json());
    }
    if (pathname === "/dev-cert-hash") {
      // QUIC runs on worker 0 only, so only it can answer.
      const responses = await this.#fetchEach("/dev-cert-hash");
      const first = responses.find((response) => response?.ok);
      await Promise.all(responses.map((r) => r === first ? undefined : r?.body?.cancel()));
      if (first) return devCertHashResponse((await first.json() as { value: string }).value);
    }
    return new Response("Not Found\n", { status: 404 });
  }

  /**
   * Asks every worker to shut down and waits up to the grace period plus 2 s, then kills what
   * is left. Safe to call twice.
   */
  shutdown(): Promise<void> {
    this.#stopped ??= this.#shutdown();
    return this.#stopped;
  }

  async #shutdown(): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#restartTimers) clearTimeout(timer);
    this.#restartTimers.clear();
    for (const worker of this.#workers) worker.kill("SIGTERM");
    const deadline = this.#options.config.shutdown.grace_sec * 1000 + 2_000;
    const timer = setTimeout(() => {
      for (const worker of this.#workers) worker.kill("SIGKILL");
    }, deadline);
    try {
      await Promise.all(this.#workers.map((worker) => worker.exited));
    } finally {
      clearTimeout(timer);
    }
    await this.#metrics?.close();
    await this.#admin?.close();
    this.#options.logger.info("stopped");
  }

  /** Shuts the workers down. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}
