import assert from "node:assert/strict";
import { Logger, type LogLevel } from "../../src/core/logger.ts";
import { parseConfig } from "../../src/config/config.ts";
import { mergeWorkerMetrics } from "../../src/cluster/metrics_merge.ts";
import {
  restartDelayMs,
  workerConfig,
  WorkerSupervisor,
} from "../../src/cluster/worker_supervisor.ts";
import { GatewayProcess, LOOPBACK_CONFIG, tempConfigFile } from "../_gateway_process.ts";
import { within } from "../_helpers.ts";
import { NatsServer } from "../_nats_server.ts";

Deno.test("mergeWorkerMetrics labels every sample by worker and keeps families together", () => {
  const worker = (n: number) =>
    [
      "# HELP gateway_sessions_active Live sessions.",
      "# TYPE gateway_sessions_active gauge",
      `gateway_sessions_active ${n}`,
      "# HELP gateway_connections_active Open connections.",
      "# TYPE gateway_connections_active gauge",
      `gateway_connections_active{transport="websocket"} ${n}`,
      "",
    ].join("\n");
  const merged = mergeWorkerMetrics([worker(3), null, worker(5)]);
  assert.equal(
    merged,
    [
      "# HELP gateway_sessions_active Live sessions.",
      "# TYPE gateway_sessions_active gauge",
      'gateway_sessions_active{worker="0"} 3',
      'gateway_sessions_active{worker="2"} 5',
      "# HELP gateway_connections_active Open connections.",
      "# TYPE gateway_connections_active gauge",
      'gateway_connections_active{worker="0",transport="websocket"} 3',
      'gateway_connections_active{worker="2",transport="websocket"} 5',
      "# HELP gateway_workers_up 1 for each worker whose metrics answered this scrape.",
      "# TYPE gateway_workers_up gauge",
      'gateway_workers_up{worker="0"} 1',
      'gateway_workers_up{worker="1"} 0',
      'gateway_workers_up{worker="2"} 1',
      "",
    ].join("\n"),
  );
});

Deno.test("each worker is a cluster node of its own: a configured node id gets -w<index>", () => {
  const named = parseConfig({ cluster: { node_id: "x".repeat(60) } });
  const ids = [0, 63].map((index) =>
    workerConfig(named, { index, websocketPort: 8081 }).cluster.node_id
  );
  assert.deepEqual(ids, [`${"x".repeat(60)}-w0`, `${"x".repeat(60)}-w63`]);
  // Still a valid node id (the registry's limit is 64 characters).
  assert.ok(ids.every((id) => /^[A-Za-z0-9_-]{1,64}$/.test(id)));
  const random = workerConfig(parseConfig({}), { index: 1, websocketPort: 8081 });
  assert.equal(random.cluster.node_id, "", "empty stays empty: each worker picks a random id");
  assert.throws(() => parseConfig({ cluster: { node_id: "x".repeat(61) } }), /cluster\.node_id/);
});

Deno.test("restartDelayMs backs a crash loop off from 1 s to at most 30 s", () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 40].map(restartDelayMs),
    [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000],
  );
});

/** A config for `--workers` on loopback port 0 at log level `level`. */
function workersConfig(level: LogLevel): Record<string, unknown> {
  return {
    ...LOOPBACK_CONFIG,
    shutdown: { grace_sec: 3 },
    // Below the tests' own 20 s wait, so a worker that never reports fails with its name.
    cluster: { worker_start_timeout_sec: 10 },
    log: { level },
  };
}

/** Where a running `--workers 2` serves. */
interface WorkersAddr {
  /** The shared WebSocket port. */
  websocketPort: number;
  /** The supervisor's merged metrics and health listener. */
  metricsPort: number;
}

/**
 * Opens 16 sessions on the shared port and checks that both workers took some, and that the
 * supervisor's merged `/metrics` and `/health` count them. Returns the sockets, each with a
 * promise of its close code.
 */
async function checkServing(
  what: string,
  addr: WorkersAddr,
): Promise<{ socket: WebSocket; closed: Promise<number> }[]> {
  const sockets: { socket: WebSocket; closed: Promise<number> }[] = [];
  try {
    for (let i = 0; i < 16; i++) {
      const socket = new WebSocket(`ws://127.0.0.1:${addr.websocketPort}/ws`);
      const closed = new Promise<number>((resolve) => socket.onclose = (e) => resolve(e.code));
      sockets.push({ socket, closed });
      await within(
        new Promise((resolve, reject) => {
          socket.onopen = resolve;
          socket.onerror = () => reject(new Error(`${what}: a session failed to connect`));
        }),
        3_000,
        `${what}: a session`,
      );
    }
    const text = await (await fetch(`http://127.0.0.1:${addr.metricsPort}/metrics`)).text();
    const perWorker = [0, 1].map((w) =>
      Number(new RegExp(`gateway_sessions_active\\{worker="${w}"\\} (\\d+)`).exec(text)?.[1])
    );
    assert.equal(perWorker[0] + perWorker[1], 16, `${what}: merged metrics\n${text}`);
    assert.ok(perWorker.every((n) => n > 0), `${what}: one worker got every session: ${perWorker}`);
    assert.equal((text.match(/^# TYPE gateway_sessions_active /gm) ?? []).length, 1, what);
    const report = await (await fetch(`http://127.0.0.1:${addr.metricsPort}/health`)).json();
    assert.deepEqual(
      [report.status, report.sessions, report.workers],
      ["ok", 16, ["ok", "ok"]],
      `${what}: merged health`,
    );
    const noCluster = await fetch(`http://127.0.0.1:${addr.metricsPort}/cluster`);
    await noCluster.body?.cancel();
    assert.equal(noCluster.status, 404, `${what}: /cluster outside cluster mode`);
    return sockets;
  } catch (error) {
    for (const { socket } of sockets) socket.close();
    await Promise.all(sockets.map((s) => s.closed));
    throw error;
  }
}

/** Waits for `sockets` to be closed with 1001 (going away) by a shutdown. */
async function expectShutdownCloses(
  what: string,
  sockets: { closed: Promise<number> }[],
): Promise<void> {
  const codes = await within(Promise.all(sockets.map((s) => s.closed)), 8_000, `${what}: closes`);
  assert.deepEqual(new Set(codes), new Set([1001]), `${what}: close codes`);
}

/**
 * At debug and info: `main.ts --workers 2` as operators run it, with the ports read from its
 * log. At debug, worker 1 is killed first and must come back and serve. SIGTERM then closes
 * every session with 1001 and the supervisor exits 0.
 */
async function serveFromMain(level: "debug" | "info"): Promise<void> {
  const what = `--workers 2 at ${level}`;
  await using config = await tempConfigFile(workersConfig(level));
  await using supervisor = new GatewayProcess(["-config", config.path, "-workers", "2"]);
  const started = await supervisor.waitForLog("workers started", 20_000);
  const metrics = await supervisor.waitForLog("metrics listening", 1_000, (l) => l.workers === 2);
  const addr = {
    websocketPort: Number(started.websocket_port),
    metricsPort: Number(new URL(String(metrics.url)).port),
  };
  if (level === "debug") {
    const first = await supervisor.waitForLog("worker ready", 1_000, (l) => l.worker === 1);
    Deno.kill(Number(first.pid), "SIGKILL");
    const exited = await supervisor.waitForLog("worker exited; restarting", 5_000);
    assert.deepEqual(
      [exited.worker, exited.pid, exited.signal, exited.deaths_in_a_row, exited.restart_in_ms],
      [1, first.pid, "SIGKILL", 1, 1_000],
      `${what}: the restart log`,
    );
    const again = await supervisor.waitForLog(
      "worker ready",
      10_000,
      (l) => l.worker === 1 && l.pid !== first.pid,
    );
    assert.equal(again.websocket_port, addr.websocketPort, `${what}: the restarted worker`);
  }
  const sockets = await checkServing(what, addr);
  try {
    supervisor.kill("SIGTERM");
    await expectShutdownCloses(what, sockets);
    const status = await within(supervisor.status, 8_000, `${what}: the supervisor to exit`);
    assert.equal(status.code, 0, `${what}: exit status`);
  } finally {
    for (const { socket } of sockets) socket.close();
  }
}

/**
 * At warn and error the gateway logs no ports (that is the point), so the supervisor runs in
 * this process and is asked for them; its workers are real `main.ts` processes at `level`.
 */
async function serveInProcess(level: "warn" | "error"): Promise<void> {
  const what = `--workers 2 at ${level}`;
  const input = workersConfig(level);
  await using config = await tempConfigFile(input);
  const lines: Record<string, unknown>[] = [];
  const supervisor = new WorkerSupervisor({
    count: 2,
    config: parseConfig(input),
    args: ["--config", config.path],
    logger: new Logger(level, (line) => lines.push(JSON.parse(line))),
  });
  try {
    await within(supervisor.start(), 20_000, `${what}: the workers to start`);
    const sockets = await checkServing(what, {
      websocketPort: supervisor.websocketPort,
      metricsPort: supervisor.metricsAddr!.port,
    });
    await supervisor.shutdown();
    await expectShutdownCloses(what, sockets);
    assert.deepEqual(lines, [], `${what}: the supervisor logged nothing at ${level}`);
  } finally {
    await supervisor.shutdown();
  }
}

Deno.test("--workers 2 starts, serves, merges metrics and health, and stops at every log level", async () => {
  // Four supervisors at once keep the test about as fast as one.
  const results = await Promise.allSettled([
    serveFromMain("debug"),
    serveFromMain("info"),
    serveInProcess("warn"),
    serveInProcess("error"),
  ]);
  const failures = results.flatMap((r) => r.status === "rejected" ? [r.reason] : []);
  if (failures.length > 0) throw new AggregateError(failures, failures.join("\n"));
});

/**
 * A named pipe that nobody writes: a worker reading it as its QUIC certificate stays in
 * start-up for good, so a test can fail its start on purpose and deterministically.
 */
async function silentCertificate(): Promise<string> {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/cert.pem`;
  const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assert.equal(made.code, 0, "mkfifo");
  return fifo;
}

/** A `--workers 2` config whose worker 0 hangs reading `fifo` as its QUIC certificate. */
function hangingConfig(fifo: string, extra: Record<string, unknown> = {}) {
  return {
    ...workersConfig("info"),
    quic: { enabled: true, host: "127.0.0.1", port: 0, cert_file: fifo, key_file: fifo },
    ...extra,
  };
}

/** Runs `--workers 2` with `config`, expecting it to fail: exit 1 and the error `message`. */
async function expectStartFailure(
  what: string,
  config: Record<string, unknown>,
  message: string,
  duringStart: (supervisor: GatewayProcess) => Promise<void> = async () => {},
): Promise<GatewayProcess> {
  await using file = await tempConfigFile(config);
  const supervisor = new GatewayProcess(["--config", file.path, "--workers", "2"]);
  try {
    await duringStart(supervisor);
    const status = await within(supervisor.status, 20_000, `${what}: the supervisor to give up`);
    assert.equal(status.code, 1, `${what}: exit status`);
    const error = supervisor.lines.find((l) => l.level === "error" && l.worker === undefined);
    assert.equal(error?.msg, message, `${what}: the supervisor's error`);
    assert.ok(
      !supervisor.lines.some((l) => l.msg === "worker started" && l.worker === 1),
      `${what}: worker 1 was started after worker 0 failed`,
    );
    // "stopped" comes after every worker has exited: none is left behind.
    await supervisor.waitForLog("stopped", 1_000, (l) => l.worker === undefined);
    return supervisor;
  } finally {
    await supervisor[Symbol.asyncDispose]();
  }
}

Deno.test("--workers fails fast, naming the worker, when one dies or stays silent while starting", async () => {
  const fifo = await silentCertificate();
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const results = await Promise.allSettled([
      expectStartFailure(
        "a worker killed during start-up",
        hangingConfig(fifo),
        "Worker 0 was killed by SIGKILL before it was ready; see its log above",
        async (supervisor) => {
          const started = await supervisor.waitForLog("worker started", 20_000);
          Deno.kill(Number(started.pid), "SIGKILL");
        },
      ),
      expectStartFailure(
        "a worker silent past the start timeout",
        hangingConfig(fifo, { cluster: { worker_start_timeout_sec: 1 } }),
        "Worker 0 did not report ready within 1 s (cluster.worker_start_timeout_sec); " +
          "see its log above",
      ),
      expectStartFailure(
        "a worker that cannot listen",
        { ...workersConfig("info"), websocket: { host: "127.0.0.1", port: taken.addr.port } },
        "Worker 0 exited with code 1 before it was ready; see its log above",
      ).then((supervisor) => {
        assert.ok(
          supervisor.lines.some((l) => String(l.msg).startsWith("Cannot listen for websocket")),
          "the worker's own reason is passed through",
        );
      }),
    ]);
    const failures = results.flatMap((r) => r.status === "rejected" ? [r.reason] : []);
    if (failures.length > 0) throw new AggregateError(failures, failures.join("\n"));
  } finally {
    await Deno.remove(fifo.slice(0, fifo.lastIndexOf("/")), { recursive: true });
  }
});

Deno.test("--workers 2 in cluster mode: the workers are two nodes and /cluster shows both", async () => {
  await using nats = new NatsServer();
  await nats.start();
  await using config = await tempConfigFile({
    ...LOOPBACK_CONFIG,
    cluster: {
      node_id: "gw",
      nats: { servers: [nats.url], reconnect_wait_ms: 100 },
      registry: { announce_interval_ms: 200, instance_ttl_ms: 1_000 },
    },
  });
  await using supervisor = new GatewayProcess(["-config", config.path, "-workers", "2"]);
  const metricsLine = await supervisor.waitForLog(
    "metrics listening",
    20_000,
    (l) => l.workers === 2,
  );
  const cluster = new URL("/cluster", String(metricsLine.url));
  let ids: string[] = [];
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    const response = await fetch(cluster);
    if (response.ok) {
      const view = await response.json() as { instances: { id: string; kind: string }[] };
      ids = view.instances.map((i) => `${i.id}:${i.kind}`).sort();
      if (ids.length === 2) break;
    } else await response.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.deepEqual(ids, ["gw-w0:gateway", "gw-w1:gateway"]);
  supervisor.kill("SIGTERM");
  assert.equal((await within(supervisor.status, 8_000, "the supervisor to exit")).code, 0);
});

/** Whether a process with `pid` still exists. */
function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

Deno.test("workers stop on their own when the supervisor is killed, and a SIGTERM during start-up stops them too", async () => {
  await using config = await tempConfigFile({ ...LOOPBACK_CONFIG, shutdown: { grace_sec: 1 } });
  // Killed for good: nothing tells the workers, but their stdin ends.
  await using killed = new GatewayProcess(["--config", config.path, "--workers", "2"]);
  const pids = await Promise.all(
    [0, 1].map(async (worker) =>
      Number((await killed.waitForLog("worker ready", 20_000, (l) => l.worker === worker)).pid)
    ),
  );
  killed.kill("SIGKILL");
  for (const worker of [0, 1]) {
    await killed.waitForLog("shutting down", 5_000, (l) => l.worker === worker);
  }
  const deadline = performance.now() + 5_000;
  while (pids.some(alive) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual(pids.filter(alive), [], "workers outlived their supervisor");
  assert.equal(
    killed.lines.find((l) => l.msg === "shutting down" && l.worker === 0)?.signal,
    "supervisor exited",
  );

  // SIGTERM as soon as worker 0 is up, before the supervisor has finished starting.
  await using early = new GatewayProcess(["--config", config.path, "--workers", "2"]);
  await early.waitForLog("worker started", 20_000, (l) => l.worker === 0);
  early.kill("SIGTERM");
  assert.equal((await within(early.status, 10_000, "the supervisor to exit")).code, 0);
  await early.waitForLog("stopped", 1_000, (l) => l.worker === undefined);
});
