import assert from "node:assert/strict";
import { mergeWorkerMetrics } from "../../src/cluster/metrics_merge.ts";
import { workerConfig } from "../../src/cluster/worker_supervisor.ts";
import { parseConfig } from "../../src/config/config.ts";
import { GatewayProcess } from "../_gateway_process.ts";
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

Deno.test("--workers 2 shares one port, merges metrics and health, and stops on SIGTERM", async () => {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      websocket: { host: "127.0.0.1", port: 0 },
      metrics: { host: "127.0.0.1", port: 0 },
      shutdown: { grace_sec: 3 },
    }),
  );
  const sockets: WebSocket[] = [];
  await using supervisor = new GatewayProcess(["-config", path, "-workers", "2"]);
  try {
    const started = await supervisor.waitForLog("workers started", 20_000);
    const metricsLine = await supervisor.waitForLog(
      "metrics listening",
      5_000,
      (l) => l.workers === 2,
    );
    const port = Number(started.websocket_port);
    const metrics = new URL(String(metricsLine.url));
    const health = new URL(String(metricsLine.health));
    // Both workers must be listening before the kernel can spread connections over them.
    await supervisor.waitForLog("websocket listening", 10_000, (l) => l.worker === 1);
    for (let i = 0; i < 16; i++) {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      await within(
        new Promise((resolve, reject) => {
          socket.onopen = resolve;
          socket.onerror = () => reject(new Error("connect failed"));
        }),
        3_000,
        "a session",
      );
      sockets.push(socket);
    }
    const text = await (await fetch(metrics)).text();
    const perWorker = [0, 1].map((w) =>
      Number(new RegExp(`gateway_sessions_active\\{worker="${w}"\\} (\\d+)`).exec(text)?.[1])
    );
    assert.equal(perWorker[0] + perWorker[1], 16, text);
    assert.ok(perWorker.every((n) => n > 0), `one worker got every session: ${perWorker}`);
    assert.equal((text.match(/^# TYPE gateway_sessions_active /gm) ?? []).length, 1);
    const report = await (await fetch(health)).json();
    assert.deepEqual([report.status, report.sessions, report.workers], ["ok", 16, ["ok", "ok"]]);
    const noCluster = await fetch(new URL("/cluster", metrics));
    await noCluster.body?.cancel();
    assert.equal(noCluster.status, 404, "/cluster outside cluster mode");

    const closes = sockets.map((s) =>
      new Promise<number>((resolve) => s.onclose = (e) => resolve(e.code))
    );
    supervisor.kill("SIGTERM");
    assert.deepEqual(
      new Set(await within(Promise.all(closes), 6_000, "the 1001 closes")),
      new Set([1001]),
    );
    assert.equal((await within(supervisor.status, 8_000, "the supervisor to exit")).code, 0);
  } finally {
    for (const socket of sockets) socket.close();
    await Deno.remove(path);
  }
});

Deno.test("--workers 2 in cluster mode: the workers are two nodes and /cluster shows both", async () => {
  await using nats = new NatsServer();
  await nats.start();
  const path = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      websocket: { host: "127.0.0.1", port: 0 },
      metrics: { host: "127.0.0.1", port: 0 },
      cluster: {
        node_id: "gw",
        nats: { servers: [nats.url], reconnect_wait_ms: 100 },
        registry: { announce_interval_ms: 200, instance_ttl_ms: 1_000 },
      },
    }),
  );
  await using supervisor = new GatewayProcess(["-config", path, "-workers", "2"]);
  try {
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
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("--workers exits 1 with a message when worker 0 cannot listen", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const path = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      websocket: { host: "127.0.0.1", port: taken.addr.port },
      metrics: { host: "127.0.0.1", port: 0 },
    }),
  );
  try {
    await using supervisor = new GatewayProcess(["--config", path, "--workers", "2"]);
    const status = await within(supervisor.status, 20_000, "the supervisor to give up");
    assert.equal(status.code, 1);
    await supervisor.waitForLog("Worker 0 exited before listening; see its log above", 1_000);
    assert.ok(
      supervisor.lines.some((line) => String(line.msg).startsWith("Cannot listen for websocket")),
      "the worker's own reason is passed through",
    );
  } finally {
    await Deno.remove(path);
  }
});
