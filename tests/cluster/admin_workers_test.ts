/**
 * The admin API of `main.ts --workers 2`, as operators run it: the supervisor serves it and
 * answers for every worker, without NATS (it asks each worker) and with NATS (a worker answers
 * for the cluster). Also the start-up refusals of bad admin settings (exit 2 naming the field).
 */
import assert from "node:assert/strict";
import { GatewayProcess, runGateway } from "../_gateway_process.ts";
import { within } from "../_helpers.ts";
import { NatsServer } from "../_nats_server.ts";
import { admin, ADMIN_TOKEN } from "../_admin.ts";

/** As in workers_test.ts: enough that the kernel gives both workers some. */
const SESSIONS = 16;

function workersEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    GATEWAY_WEBSOCKET_HOST: "127.0.0.1",
    GATEWAY_WEBSOCKET_PORT: "0",
    GATEWAY_METRICS_HOST: "127.0.0.1",
    GATEWAY_METRICS_PORT: "0",
    GATEWAY_ADMIN_ENABLED: "true",
    GATEWAY_ADMIN_PORT: "0",
    GATEWAY_SHUTDOWN_GRACE_SEC: "2",
    GATEWAY_CLUSTER_WORKER_START_TIMEOUT_SEC: "10",
    GATEWAY_LOG_LEVEL: "info",
    MMO_ADMIN_TOKEN: ADMIN_TOKEN,
    ...extra,
  };
}

/** Starts `--workers 2` and opens sessions on the shared port; checks the admin API. */
async function checkWorkersAdmin(what: string, env: Record<string, string>, nodes: string[]) {
  await using supervisor = new GatewayProcess(["--workers", "2"], { env });
  const started = await supervisor.waitForLog("workers started", 20_000);
  const listening = await supervisor.waitForLog(
    "admin listening",
    1_000,
    (line) => line.worker === undefined,
  );
  const port = Number(new URL(String(listening.url)).port);
  const sockets: { socket: WebSocket; closed: Promise<{ code: number; reason: string }> }[] = [];
  try {
    for (let i = 0; i < SESSIONS; i++) {
      const socket = new WebSocket(`ws://127.0.0.1:${started.websocket_port}/ws`);
      const closed = new Promise<{ code: number; reason: string }>((resolve) =>
        socket.onclose = (e) => resolve({ code: e.code, reason: e.reason })
      );
      sockets.push({ socket, closed });
      await within(new Promise((resolve) => socket.onopen = resolve), 3_000, `${what}: open`);
    }
    assert.equal((await admin(port, "/admin/sessions", { token: null })).status, 401, what);
    assert.equal((await admin(port, "/admin/sessions", { token: "wrong" })).status, 403, what);

    const list = await admin(port, "/admin/sessions?limit=3");
    assert.equal(list.status, 200, `${what}: ${JSON.stringify(list.body)}`);
    const all: { id: string; node: string }[] = [...list.body.sessions as []];
    let cursor = list.body.next_cursor as string | null;
    while (cursor !== null) {
      const page = await admin(port, `/admin/sessions?limit=3&cursor=${cursor}`);
      assert.equal(page.status, 200, what);
      all.push(...page.body.sessions as []);
      cursor = page.body.next_cursor as string | null;
    }
    assert.equal(all.length, SESSIONS, `${what}: every worker's sessions`);
    assert.equal(new Set(all.map((s) => s.id)).size, SESSIONS, `${what}: no session twice`);
    assert.deepEqual([...new Set(all.map((s) => s.node))].sort(), nodes, `${what}: nodes`);

    const view = await admin(port, "/admin/nodes");
    const gateways = (view.body.nodes as { id: string; kind: string; sessions: number }[])
      .filter((node) => node.kind === "gateway");
    assert.deepEqual(gateways.map((node) => node.id).sort(), nodes, what);

    const push = await admin(port, "/admin/push", {
      method: "POST",
      body: JSON.stringify({ to: "all", route: "system.notice", data: 1 }),
    });
    assert.deepEqual(push.body, { delivered: SESSIONS, unreachable: [] }, what);

    const victim = all[SESSIONS - 1];
    const kicked = await admin(port, `/admin/sessions/${victim.id}?reason=bye`, {
      method: "DELETE",
    });
    assert.equal(kicked.status, 200, `${what}: ${JSON.stringify(kicked.body)}`);
    const closes = await within(
      Promise.race(sockets.map((s) => s.closed)),
      3_000,
      `${what}: the kicked session's close`,
    );
    assert.deepEqual(closes, { code: 4505, reason: "bye" }, what);
    const gone = await admin(port, `/admin/sessions/${victim.id}`);
    assert.equal(gone.status, 404, what);
    const line = await supervisor.waitForLog("session kicked", 2_000);
    assert.equal(line.by, "admin", `${what}: the worker logs who kicked`);
  } finally {
    for (const { socket } of sockets) socket.close();
    await Promise.all(sockets.map((s) => s.closed));
  }
}

Deno.test("admin --workers without NATS: the supervisor asks each worker and merges", async () => {
  await checkWorkersAdmin("workers without NATS", workersEnv(), ["local-w0", "local-w1"]);
});

Deno.test("admin --workers with NATS: a worker answers for the whole cluster", async () => {
  await using nats = new NatsServer();
  await nats.start();
  await checkWorkersAdmin(
    "workers with NATS",
    workersEnv({
      GATEWAY_CLUSTER_NATS_SERVERS: nats.url,
      GATEWAY_CLUSTER_NODE_ID: "box",
      GATEWAY_CLUSTER_REGISTRY_ANNOUNCE_INTERVAL_MS: "200",
      GATEWAY_CLUSTER_REGISTRY_INSTANCE_TTL_MS: "1000",
    }),
    ["box-w0", "box-w1"],
  );
});

Deno.test("admin settings that cannot work stop the start with status 2, naming the field", async () => {
  const token = { MMO_ADMIN_TOKEN: ADMIN_TOKEN };
  const cases: [Record<string, string>, string][] = [
    [{ MMO_ADMIN_TOKEN: "" }, "admin.token_env: MMO_ADMIN_TOKEN is set but empty"],
    [{ MMO_ADMIN_TOKEN: "short" }, "admin.token_env: the token named"],
    [
      { GATEWAY_ADMIN_HOST: "0.0.0.0" },
      "admin.host: 0.0.0.0 is not a loopback address and no admin token is set",
    ],
    [
      { ...token, GATEWAY_ADMIN_TOKEN_ENV: "GATEWAY_SECRET" },
      "GATEWAY_ADMIN_TOKEN_ENV: must not start with GATEWAY_",
    ],
    [
      { ...token, GATEWAY_ADMIN_TOKENS_ENV: "OPS_TOKENS" },
      "admin.tokens_env: OPS_TOKENS is not set",
    ],
    [
      { ...token, GATEWAY_ADMIN_PORT: "9090" },
      "GATEWAY_ADMIN_PORT: must differ from metrics.port (9090)",
    ],
  ];
  for (const [env, message] of cases) {
    const result = await runGateway(["--check-config"], { GATEWAY_ADMIN_ENABLED: "true", ...env });
    assert.equal(result.code, 2, `${JSON.stringify(env)}: ${result.stderr}`);
    assert.ok(result.stderr.includes(message), `${JSON.stringify(env)}: ${result.stderr}`);
  }
  // Without the admin section enabled none of it is read.
  const off = await runGateway(["--check-config"], { MMO_ADMIN_TOKEN: "" });
  assert.equal(off.code, 0, off.stderr);
});
