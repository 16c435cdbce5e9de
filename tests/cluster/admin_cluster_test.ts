/**
 * The admin API across gateway nodes on a real nats-server: one node's listener answers for
 * the sessions of every node, and a node that does not answer in time is named.
 */
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import type { RunningGateway } from "../../src/app.ts";
import type { GatewayConfigInput } from "../../src/config/config.ts";
import { clusterNode } from "../_cluster.ts";
import { recordingLogger, waitFor, within } from "../_helpers.ts";
import { NatsServer } from "../_nats_server.ts";
import { admin, AdminPlayer, adminTestRouter, testAdminTokens } from "../_admin.ts";

function adminNode(nats: string, id: string, overrides: GatewayConfigInput = {}) {
  const { logger, lines } = recordingLogger();
  const node = clusterNode(nats, { ...overrides, cluster: { node_id: id } }, {
    router: adminTestRouter(),
    adminTokens: testAdminTokens,
    logger,
  });
  return { node, lines };
}

const gatewayCount = (node: RunningGateway) => node.registry!.nodes("gateway").length;

Deno.test("admin cluster: one node lists, pages, gets, kicks and pushes to sessions on every node", async () => {
  await using nats = new NatsServer();
  await nats.start();
  // Only gw-a serves the API; gw-b answers it over NATS all the same.
  const { node: a, lines } = adminNode(nats.url, "gw-a", { admin: { enabled: true, port: 0 } });
  const { node: b, lines: bLines } = adminNode(nats.url, "gw-b");
  const players: AdminPlayer[] = [];
  try {
    assert.equal(b.adminAddr, undefined);
    await waitFor(() => gatewayCount(a) === 2 && gatewayCount(b) === 2, 5_000, "both nodes");
    const port = a.adminAddr!.port;
    players.push(await AdminPlayer.connect(a, "ann@red"));
    players.push(await AdminPlayer.connect(b, "bob@red"));
    players.push(await AdminPlayer.connect(b, "cid"));
    const [ann, bob, cid] = players;

    const list = await admin(port, "/admin/sessions");
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.unreachable, []);
    const sessions = list.body.sessions as { id: string; node: string; user: string }[];
    const bIds = [...b.sessions.values()].map((s) => s.id).sort();
    assert.deepEqual(
      sessions.map((s) => [s.node, s.id]),
      [["gw-a", [...a.sessions.values()][0].id], ...bIds.map((id) => ["gw-b", id])],
      "in (node, session) order",
    );
    // One session per page, across the nodes.
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof admin>> = await admin(
        port,
        `/admin/sessions?limit=1${cursor ? `&cursor=${cursor}` : ""}`,
      );
      paged.push(...(page.body.sessions as { id: string }[]).map((s) => s.id));
      cursor = page.body.next_cursor as string | null;
    } while (cursor !== null);
    assert.deepEqual(paged, sessions.map((s) => s.id));
    const reds = await admin(port, "/admin/sessions?group=team:red");
    assert.deepEqual((reds.body.sessions as { user: string }[]).map((s) => s.user), ["ann", "bob"]);

    const bobId = sessions.find((s) => s.user === "bob")!.id;
    const got = await admin(port, `/admin/sessions/${bobId}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.node, "gw-b");

    const push = async (body: Record<string, unknown>) =>
      (await admin(port, "/admin/push", {
        method: "POST",
        body: JSON.stringify({ route: "system.notice", ...body }),
      })).body;
    assert.deepEqual(await push({ to: "group", id: "team:red", data: 1 }), {
      delivered: 2,
      unreachable: [],
    });
    assert.equal((await push({ to: "user", id: "cid", data: 2 })).delivered, 1);
    assert.equal((await push({ to: "all", data: 3 })).delivered, 3);
    await waitFor(
      () => [ann, bob, cid].every((p) => p.inbox.some((m) => (m as { data: number }).data === 3)),
      3_000,
      "the pushes",
    );
    assert.deepEqual(
      players.map((p) => p.inbox.filter((m) => m.type === "push").map((m) => m.data)),
      [[1, 3], [1, 3], [2, 3]],
    );

    const kicked = await admin(port, `/admin/sessions/${bobId}?reason=afk`, { method: "DELETE" });
    assert.equal(kicked.status, 200);
    assert.deepEqual(await within(bob.closed, 3_000, "bob's close"), { code: 4505, reason: "afk" });
    assert.equal(cid.socket.readyState, WebSocket.OPEN);
    const request = lines.find((l) => l.action === "kick" && l.status === 200)!;
    assert.equal(request.by, "ops");
    assert.equal(request.node, "gw-b");
    const onB = bLines.find((l) => l.msg === "session kicked")!;
    assert.equal(onB.by, "ops", "the node holding the session logs who kicked it too");

    await waitFor(
      () => a.registry!.node("gw-b")?.sessions === 1,
      3_000,
      "gw-b to announce its new count",
    );
    const nodes = await admin(port, "/admin/nodes");
    assert.equal(nodes.status, 200);
    assert.deepEqual(
      (nodes.body.nodes as { id: string; kind: string; self: boolean; sessions: number }[])
        .map(({ id, kind, self, sessions }) => ({ id, kind, self, sessions })),
      [
        { id: "gw-a", kind: "gateway", self: true, sessions: 1 },
        { id: "gw-b", kind: "gateway", self: false, sessions: 1 },
      ],
    );
  } finally {
    for (const player of players) await player.close();
    await a.shutdown(1_000);
    await b.shutdown(1_000);
  }
});

Deno.test("admin cluster: nodes that do not answer in time, or answer garbage, are named and not waited for", async () => {
  await using nats = new NatsServer();
  await nats.start();
  const { node: a } = adminNode(nats.url, "gw-a", {
    admin: { enabled: true, port: 0, scatter_timeout_ms: 300 },
  });
  const nc = await connect({ servers: nats.url });
  // gw-ghost is announced but nobody listens on its subject; gw-slow listens and never
  // answers; gw-bad answers something that is not an answer.
  nc.subscribe("mmo.admin.gw-slow", { callback: () => {} });
  nc.subscribe("mmo.admin.gw-bad", { callback: (_, m) => void m.respond('{"op":"list"}') });
  const announce = () => {
    for (const id of ["gw-ghost", "gw-slow", "gw-bad"]) {
      nc.publish(
        "mmo.reg.announce",
        JSON.stringify({
          v: 1,
          op: "announce",
          id,
          kind: "gateway",
          started: 1,
          interval_ms: 200,
          sessions: 5,
          services: {},
        }),
      );
    }
  };
  announce();
  const timer = setInterval(announce, 200);
  const player = await AdminPlayer.connect(a, "ann");
  try {
    await waitFor(() => gatewayCount(a) === 4, 5_000, "the announced nodes");
    const port = a.adminAddr!.port;
    const started = performance.now();
    const list = await admin(port, "/admin/sessions");
    const elapsed = performance.now() - started;
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.unreachable, ["gw-bad", "gw-ghost", "gw-slow"]);
    assert.deepEqual((list.body.sessions as { user: string }[]).map((s) => s.user), ["ann"]);
    assert.ok(elapsed >= 250 && elapsed < 2_000, `waited ${elapsed} ms for a 300 ms timeout`);

    const unknown = await admin(port, "/admin/sessions/nobody");
    assert.equal(unknown.status, 503);
    assert.equal(unknown.body.error, "nodes_unreachable");
    assert.deepEqual(unknown.body.unreachable, ["gw-bad", "gw-ghost", "gw-slow"]);
    const annId = [...a.sessions.values()][0].id;
    assert.equal((await admin(port, `/admin/sessions/${annId}`)).status, 200);

    const push = await admin(port, "/admin/push", {
      method: "POST",
      body: JSON.stringify({ to: "all", route: "system.notice" }),
    });
    assert.deepEqual(push.body, { delivered: 1, unreachable: ["gw-bad", "gw-ghost", "gw-slow"] });

    const nodes = await admin(port, "/admin/nodes");
    const ghost = (nodes.body.nodes as { id: string; sessions: number }[])
      .find((node) => node.id === "gw-ghost");
    assert.equal(ghost?.sessions, 5, "known nodes are listed with what they announced");
  } finally {
    clearInterval(timer);
    await player.close();
    await nc.close();
    await a.shutdown(1_000);
  }
});
