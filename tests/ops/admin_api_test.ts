/** The admin API on one node: a real admin listener on port 0, real WebSocket players. */
import assert from "node:assert/strict";
import { type RunningGateway, startGateway } from "../../src/app.ts";
import { type GatewayConfigInput, parseConfig } from "../../src/config/config.ts";
import { Logger } from "../../src/core/logger.ts";
import { recordingLogger, waitFor, within } from "../_helpers.ts";
import { admin, ADMIN_TOKEN, AdminPlayer, adminTestRouter, testAdminTokens } from "../_admin.ts";

function adminGateway(
  overrides: GatewayConfigInput = {},
  logger: Logger = new Logger("error", () => {}),
): RunningGateway {
  return startGateway(
    parseConfig({
      ...overrides,
      websocket: { host: "127.0.0.1", port: 0 },
      metrics: { enabled: false },
      admin: { enabled: true, port: 0, max_body_bytes: 2_048, ...overrides.admin },
    }),
    { logger, router: adminTestRouter(), adminTokens: testAdminTokens },
  );
}

const port = (gateway: RunningGateway) => gateway.adminAddr!.port;

Deno.test("admin API: 401 without a token, 403 with a wrong one; refusals are logged without the token", async () => {
  const { logger, lines } = recordingLogger();
  await using gateway = adminGateway({}, logger);
  assert.notEqual(port(gateway), gateway.websocketAddr!.port, "never on the players' port");
  for (const path of ["/admin/sessions", "/admin/nodes", "/nowhere"]) {
    const missing = await admin(port(gateway), path, { token: null });
    assert.equal(missing.status, 401, path);
    assert.equal(missing.body.error, "unauthorized");
    assert.equal(missing.headers.get("www-authenticate"), 'Bearer realm="admin"');
    const wrong = await admin(port(gateway), path, { token: `${ADMIN_TOKEN}x` });
    assert.equal(wrong.status, 403, path);
    assert.equal(wrong.body.error, "forbidden");
  }
  const kick = await admin(port(gateway), "/admin/sessions/x", { method: "DELETE", token: "no" });
  assert.equal(kick.status, 403);
  const refused = lines.filter((line) => line.msg === "admin request refused");
  assert.equal(refused.length, 7);
  assert.ok(!JSON.stringify(lines).includes("test-admin-token"), "the token is never logged");
});

Deno.test("admin API: lists sessions with their fields, filters and pages them", async () => {
  await using gateway = adminGateway({ admin: { page_size: 2 } });
  const players = [
    await AdminPlayer.connect(gateway, "ann@red"),
    await AdminPlayer.connect(gateway, "bob@red"),
    await AdminPlayer.connect(gateway, "cid@blue"),
    await AdminPlayer.connect(gateway),
  ];
  try {
    const all = await admin(port(gateway), "/admin/sessions?limit=10");
    assert.equal(all.status, 200);
    const sessions = all.body.sessions as Record<string, unknown>[];
    assert.equal(sessions.length, 4);
    assert.equal(all.body.next_cursor, null);
    assert.deepEqual(all.body.unreachable, []);
    const ids = sessions.map((s) => s.id as string);
    assert.deepEqual(ids, [...ids].sort(), "in session id order");
    const ann = sessions.find((s) => s.user === "ann")!;
    const session = gateway.sessions.get(ann.id as string)!;
    assert.deepEqual(ann, {
      id: session.id,
      node: "local",
      user: "ann",
      transport: "websocket",
      remote_addr: session.remoteAddr,
      connected_at: new Date(session.createdAt).toISOString(),
      last_seen_at: new Date(session.lastSeenAt).toISOString(),
      rtt_ms: null,
      messages_in: 1,
      messages_out: 1,
      bytes_in: session.bytesIn,
      bytes_out: session.bytesOut,
      outbound_queue_bytes: 0,
      groups: ["team:red"],
      group_count: 1,
      state: "live",
    });
    assert.ok(session.bytesIn > 40 && session.bytesOut > 20, "bytes are counted both ways");

    const usersOf = async (query: string) => {
      const answer = await admin(port(gateway), `/admin/sessions?${query}`);
      assert.equal(answer.status, 200, query);
      return (answer.body.sessions as Record<string, unknown>[]).map((s) => s.user).sort();
    };
    assert.deepEqual(await usersOf("user=bob"), ["bob"]);
    assert.deepEqual(await usersOf("group=team:red&limit=10"), ["ann", "bob"]);
    assert.deepEqual(await usersOf("user=ann&group=team:blue"), []);
    assert.deepEqual(await usersOf("transport=quic"), []);
    assert.deepEqual(await usersOf("user=&group=&transport=websocket&limit=10"), [
      "ann",
      "bob",
      "cid",
      null,
    ]);

    // Pages of the configured default size (2), then of 1, follow the cursor to the end.
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `?cursor=${cursor}` : "";
      const page = await admin(port(gateway), `/admin/sessions${query}`);
      assert.equal(page.status, 200);
      seen.push(...(page.body.sessions as { id: string }[]).map((s) => s.id));
      cursor = page.body.next_cursor as string | null;
      pages++;
    } while (cursor !== null);
    assert.deepEqual(seen, ids);
    assert.equal(pages, 2);
    const one = await admin(port(gateway), "/admin/sessions?limit=1");
    const next = await admin(
      port(gateway),
      `/admin/sessions?limit=3&cursor=${one.body.next_cursor}`,
    );
    assert.deepEqual(
      [...(one.body.sessions as { id: string }[]), ...(next.body.sessions as { id: string }[])]
        .map((s) => s.id),
      ids,
    );
    assert.equal(next.body.next_cursor, null);
    // A cursor stays valid after its session is gone.
    const first = (one.body.sessions as { user: string | null }[])[0].user;
    const users = ["ann", "bob", "cid", null];
    await players[users.indexOf(first)].close();
    await waitFor(() => gateway.sessions.size === 3, 2_000, "the close");
    const after = await admin(port(gateway), `/admin/sessions?cursor=${one.body.next_cursor}`);
    assert.equal(after.status, 200);
    assert.deepEqual((after.body.sessions as { id: string }[]).map((s) => s.id), ids.slice(1, 3));
  } finally {
    for (const player of players) await player.close();
  }
});

Deno.test("admin API: gets a session, kicks it with 4505 and the operator's reason, and logs who did", async () => {
  const { logger, lines } = recordingLogger();
  await using gateway = adminGateway({}, logger);
  const target = await AdminPlayer.connect(gateway, "eve@red");
  const bystander = await AdminPlayer.connect(gateway, "fay@red");
  try {
    const id = (await admin(port(gateway), "/admin/sessions?user=eve")).body.sessions as {
      id: string;
    }[];
    const got = await admin(port(gateway), `/admin/sessions/${id[0].id}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.user, "eve");
    const reason = `cheating\nsee ticket ${"#".repeat(200)}`;
    const kicked = await admin(
      port(gateway),
      `/admin/sessions/${id[0].id}?reason=${encodeURIComponent(reason)}`,
      { method: "DELETE" },
    );
    assert.equal(kicked.status, 200);
    assert.equal(kicked.body.code, 4505);
    const sent = `cheating see ticket ${"#".repeat(103)}`;
    assert.equal(kicked.body.reason, sent, "control characters gone, cut to 123 bytes");
    assert.equal((kicked.body.kicked as { user: string }).user, "eve");
    const close = await within(target.closed, 3_000, "the kicked client's close");
    assert.deepEqual(close, { code: 4505, reason: sent });
    assert.equal(bystander.socket.readyState, WebSocket.OPEN);
    const again = await admin(port(gateway), `/admin/sessions/${id[0].id}`, { method: "DELETE" });
    assert.equal(again.status, 404);
    assert.equal(again.body.error, "session_not_found");
    const kickLine = lines.find((line) => line.msg === "session kicked")!;
    assert.equal(kickLine.by, "ops");
    assert.equal(kickLine.reason, sent);
    const requestLine = lines.find((line) => line.action === "kick" && line.status === 200)!;
    assert.equal(requestLine.by, "ops");
    assert.equal(requestLine.session, id[0].id);
    assert.equal(gateway.metrics.disconnects.get("kicked"), 1);
  } finally {
    await target.close();
    await bystander.close();
  }
});

Deno.test("admin API: pushes to a session, a user, a group or everyone and says how many got it", async () => {
  const { logger, lines } = recordingLogger();
  await using gateway = adminGateway({}, logger);
  const players = [
    await AdminPlayer.connect(gateway, "gus@red"),
    await AdminPlayer.connect(gateway, "gus@blue"),
    await AdminPlayer.connect(gateway, "hal@red"),
  ];
  try {
    const push = async (body: Record<string, unknown>) => {
      const answer = await admin(port(gateway), "/admin/push", {
        method: "POST",
        body: JSON.stringify({ route: "system.notice", ...body }),
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      return answer.body.delivered;
    };
    const hal = gateway.sessions.get(
      ((await admin(port(gateway), "/admin/sessions?user=hal")).body.sessions as { id: string }[])[
        0
      ].id,
    )!;
    assert.equal(await push({ to: "session", id: hal.id, data: 1 }), 1);
    assert.equal(await push({ to: "user", id: "gus", data: 2 }), 2);
    assert.equal(await push({ to: "group", id: "team:red", data: 3 }), 2);
    assert.equal(await push({ to: "all", data: 4, unreliable: true }), 3);
    assert.equal(await push({ to: "user", id: "nobody", data: 5 }), 0);
    const pushes = () =>
      players.reduce((n, p) => n + p.inbox.filter((m) => m.type === "push").length, 0);
    await waitFor(() => pushes() === 8, 3_000, "the pushes");
    const received = players.map((p) =>
      p.inbox.filter((m) => m.type === "push").map((m) => (m as { data: number }).data)
    );
    assert.deepEqual(received, [[2, 3, 4], [2, 4], [1, 3, 4]]);
    assert.deepEqual(players[0].inbox.at(-1), { type: "push", route: "system.notice", data: 4 });
    const line = lines.find((l) => l.action === "push" && l.to === "group")!;
    assert.equal(line.by, "ops");
    assert.equal(line.delivered, 2);
  } finally {
    for (const player of players) await player.close();
  }
});

Deno.test("admin API: bad input gets a 4xx with a JSON error, and the gateway keeps serving", async () => {
  await using gateway = adminGateway();
  const player = await AdminPlayer.connect(gateway, "ivy");
  try {
    const cases: [
      string,
      { method?: string; body?: BodyInit; headers?: HeadersInit },
      number,
      string,
    ][] = [
      ["/admin/sessions/nope", {}, 404, "session_not_found"],
      ["/admin/sessions/nope", { method: "DELETE" }, 404, "session_not_found"],
      [`/admin/sessions/${"x".repeat(257)}`, {}, 400, "bad_request"],
      ["/admin/sessions/%E0%A4%A", {}, 400, "bad_request"],
      ["/admin/sessions/a?x=1", {}, 400, "bad_request"],
      ["/admin/sessions/a?reason=x&why=y", { method: "DELETE" }, 400, "bad_request"],
      [`/admin/sessions/a?reason=${"r".repeat(257)}`, { method: "DELETE" }, 400, "bad_request"],
      ["/admin/sessions?cursor=%%%", {}, 400, "bad_cursor"],
      ["/admin/sessions?cursor=eyJ2IjoxfQ", {}, 400, "bad_cursor"],
      ["/admin/sessions?limit=0", {}, 400, "bad_request"],
      ["/admin/sessions?limit=1001", {}, 400, "bad_request"],
      ["/admin/sessions?limit=ten", {}, 400, "bad_request"],
      ["/admin/sessions?limit=1.5", {}, 400, "bad_request"],
      ["/admin/sessions?transport=udp", {}, 400, "bad_request"],
      ["/admin/sessions?usr=ivy", {}, 400, "bad_request"],
      ["/admin/sessions?user=a&user=b", {}, 400, "bad_request"],
      [`/admin/sessions?user=${"u".repeat(257)}`, {}, 400, "bad_request"],
      ["/admin/nodes?all=1", {}, 400, "bad_request"],
      ["/admin/sessions", { method: "POST" }, 405, "method_not_allowed"],
      ["/admin/push", {}, 405, "method_not_allowed"],
      ["/admin/nowhere", {}, 404, "not_found"],
      ["/", {}, 404, "not_found"],
      ["/admin/push", { method: "POST", body: "{not json" }, 400, "bad_json"],
      [
        "/admin/push",
        { method: "POST", body: new Uint8Array([0x7b, 0xff, 0x7d]) },
        400,
        "bad_json",
      ],
      ["/admin/push", { method: "POST", body: "" }, 400, "bad_json"],
      ["/admin/push", { method: "POST", body: "[1]" }, 400, "bad_request"],
      ["/admin/push", { method: "POST", body: '{"to":"all"}' }, 400, "bad_request"],
      ["/admin/push", { method: "POST", body: '{"to":"moon","route":"r"}' }, 400, "bad_request"],
      ["/admin/push", { method: "POST", body: '{"to":"user","route":"r"}' }, 400, "bad_request"],
      [
        "/admin/push",
        { method: "POST", body: '{"to":"all","id":"x","route":"r"}' },
        400,
        "bad_request",
      ],
      [
        "/admin/push",
        { method: "POST", body: '{"to":"all","route":"r","unreliable":1}' },
        400,
        "bad_request",
      ],
      [
        "/admin/push",
        { method: "POST", body: '{"to":"all","route":"r","op":"kick"}' },
        400,
        "bad_request",
      ],
      [
        "/admin/push",
        { method: "POST", body: '{"to":"session","id":"gone","route":"r"}' },
        404,
        "session_not_found",
      ],
      [
        "/admin/push",
        {
          method: "POST",
          body: JSON.stringify({ to: "all", route: "r", data: "x".repeat(3_000) }),
        },
        413,
        "body_too_large",
      ],
      [
        "/admin/push",
        {
          method: "POST",
          // No length announced: the limit is enforced while reading.
          body: ReadableStream.from([
            new TextEncoder().encode(`{"to":"all","route":"r","data":"${"x".repeat(3_000)}"}`),
          ]),
        },
        413,
        "body_too_large",
      ],
    ];
    for (const [path, init, status, error] of cases) {
      const answer = await admin(port(gateway), path, init);
      assert.equal(
        answer.status,
        status,
        `${init.method ?? "GET"} ${path}: ${JSON.stringify(answer.body)}`,
      );
      assert.equal(answer.body.error, error, path);
      assert.equal(typeof answer.body.message, "string");
    }
    const wrongMethod = await admin(port(gateway), "/admin/sessions/x", { method: "PUT" });
    assert.equal(wrongMethod.headers.get("allow"), "GET, DELETE");
    // Still serving, and the player never noticed.
    assert.equal((await admin(port(gateway), "/admin/sessions")).status, 200);
    assert.equal(player.socket.readyState, WebSocket.OPEN);
  } finally {
    await player.close();
  }
});

Deno.test("admin API: /admin/nodes lists this node with its session count", async () => {
  await using gateway = adminGateway({ cluster: { node_id: "solo" } });
  const player = await AdminPlayer.connect(gateway);
  try {
    const nodes = await admin(port(gateway), "/admin/nodes");
    assert.equal(nodes.status, 200);
    assert.deepEqual(nodes.body, {
      nodes: [{ id: "solo", kind: "gateway", self: true, sessions: 1 }],
      unreachable: [],
    });
  } finally {
    await player.close();
  }
});
