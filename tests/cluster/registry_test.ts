import assert from "node:assert/strict";
import { type Announcement, encodeJson } from "../../src/cluster/cluster_protocol.ts";
import {
  ClusterRegistry,
  type InstanceDownReason,
  type RegistryLimits,
} from "../../src/cluster/registry.ts";
import { serveServices } from "../../src/cluster/service_process.ts";
import { chatService } from "../../src/services/chat.ts";

const LIMITS: RegistryLimits = {
  instanceTtlMs: 1_000,
  maxInstances: 100,
  maxServices: 100,
  maxRoutes: 1_000,
  maxAnnouncementBytes: 4_096,
};

/** A registry for node `gw-a` on a clock the test moves. */
function registry(limits: Partial<RegistryLimits> = {}) {
  const clock = { now: 0 };
  const table = new ClusterRegistry({
    ...LIMITS,
    ...limits,
    selfId: "gw-a",
    now: () => clock.now,
  });
  table.applySelf(gateway("gw-a", {}));
  return { table, clock };
}

function service(
  id: string,
  services: Record<string, string[]>,
  started = 1_000,
): Announcement {
  return { v: 1, op: "announce", id, kind: "service", started, interval_ms: 200, services };
}

function gateway(id: string, services: Record<string, string[]>, sessions = 0): Announcement {
  return {
    v: 1,
    op: "announce",
    id,
    kind: "gateway",
    started: 500,
    interval_ms: 200,
    sessions,
    services,
  };
}

const bytes = (value: unknown) => encodeJson(value);

Deno.test("ClusterRegistry tells unknown routes from known routes whose instances are gone", () => {
  const { table, clock } = registry();
  const down: [string, InstanceDownReason][] = [];
  table.observe({ onInstanceDown: (instance, reason) => down.push([instance.id, reason]) });
  assert.deepEqual(table.receive(bytes(service("svc-1", { chat: ["join", "say"] }))), {
    ok: true,
  });
  assert.equal(table.route("chat.join")?.live, 1);
  assert.equal(table.route("chat.nope"), undefined);
  assert.equal(table.route("nosuch.route"), undefined);
  assert.ok(table.isAlive("svc-1"));

  // A second instance of the same service, then the first one falls silent.
  clock.now = 600;
  table.receive(bytes(service("svc-2", { chat: ["join", "say"] })));
  assert.equal(table.route("chat.say")?.live, 2);
  clock.now = 1_001;
  assert.equal(table.isAlive("svc-1"), false, "past the TTL before the sweep");
  table.sweep();
  assert.equal(table.route("chat.say")?.live, 1);
  assert.deepEqual(down, [["svc-1", "expired"]]);

  // The last one says goodbye: the routes stay known, with no one serving them.
  table.receive(bytes({ v: 1, op: "bye", id: "svc-2" }));
  assert.deepEqual(down, [["svc-1", "expired"], ["svc-2", "withdrawn"]]);
  assert.equal(table.route("chat.say")?.live, 0);
  assert.deepEqual([...table.serviceInstances()], [["chat", 0]]);
  assert.equal(table.isAlive("svc-2"), false);
  assert.ok(table.isAlive("gw-a"), "this gateway never expires");
  clock.now = 1_000_000;
  table.sweep();
  assert.ok(table.isAlive("gw-a"));
});

Deno.test("ClusterRegistry knows routes gateways embed but counts no instance for them", () => {
  const { table } = registry();
  table.receive(bytes(gateway("gw-b", { shop: ["buy"] }, 42)));
  assert.equal(table.route("shop.buy")?.live, 0, "gw-b serves shop.buy to its own players only");
  assert.deepEqual(table.instanceCounts(), { gateway: 2, service: 0 });
  const b = table.node("gw-b")!;
  assert.deepEqual([b.kind, b.sessions, b.services], ["gateway", 42, { shop: ["buy"] }]);
  assert.deepEqual(table.nodes("gateway").map((n) => [n.id, n.self]), [
    ["gw-a", true],
    ["gw-b", false],
  ]);
  assert.deepEqual(table.nodes("service"), []);
});

Deno.test("ClusterRegistry follows an instance that changes its routes or restarts", () => {
  const { table } = registry();
  const up: string[] = [];
  table.observe({ onInstanceUp: (instance) => up.push(`${instance.id}@${instance.started}`) });
  table.receive(bytes(service("svc-1", { chat: ["join"] })));
  table.receive(bytes(service("svc-1", { chat: ["join"] })));
  assert.deepEqual(up, ["svc-1@1000"], "a repeated announcement is not a new instance");
  table.receive(bytes(service("svc-1", { chat: ["say"] })));
  assert.equal(table.route("chat.join")?.live, 0);
  assert.equal(table.route("chat.say")?.live, 1);
  table.receive(bytes(service("svc-1", { chat: ["say"] }, 2_000)));
  assert.deepEqual(up, ["svc-1@1000", "svc-1@2000"], "a new start time is a restart");
  assert.equal(table.route("chat.say")?.live, 1);
});

Deno.test("ClusterRegistry refuses malformed, overlong and badly named announcements and counts them", () => {
  const { table } = registry();
  const before = JSON.stringify(table.view());
  const cases: [unknown, string][] = [
    ["not json {", "malformed"],
    [[1, 2], "malformed"],
    [{ ...service("svc-1", {}), v: 2 }, "malformed"],
    [{ ...service("svc-1", {}), op: "hello" }, "malformed"],
    [{ ...service("svc-1", {}), kind: "robot" }, "malformed"],
    [{ ...service("svc-1", {}), started: "yesterday" }, "malformed"],
    [{ ...service("svc-1", {}), interval_ms: 0 }, "malformed"],
    [{ ...service("svc-1", {}), interval_ms: 1.5 }, "malformed"],
    [{ ...service("svc-1", {}), sessions: -1 }, "malformed"],
    [{ ...service("svc-1", {}), services: ["chat"] }, "malformed"],
    [service("svc-1", { chat: "join" as unknown as string[] }), "malformed"],
    [service("svc-1", { chat: [7 as unknown as string] }), "malformed"],
    [{ ...service("svc-1", {}), id: 7 }, "malformed"],
    [service("svc.1", { chat: ["join"] }), "bad_name"],
    [service("x".repeat(65), { chat: ["join"] }), "bad_name"],
    [service("svc-1", { "ch at": ["join"] }), "bad_name"],
    [service("svc-1", { "chat.>": ["join"] }), "bad_name"],
    [service("svc-1", { ["s" + "x".repeat(64)]: ["join"] }), "bad_name"],
    [service("svc-1", { chat: ["*"] }), "bad_name"],
    [service("svc-1", { chat: ['a"b'] }), "bad_name"],
    [
      JSON.stringify(service("svc-1", {})).replace('"services":{}', '"services":{"__proto__":[]}'),
      "bad_name",
    ],
    [service("svc-1", { chat: Array.from({ length: 1_000 }, (_, i) => `m${i}`) }), "too_big"],
  ];
  for (const [message, reason] of cases) {
    const data = typeof message === "string" ? new TextEncoder().encode(message) : bytes(message);
    const result = table.receive(data);
    assert.equal(result.ok ? "ok" : result.reason, reason, JSON.stringify(message).slice(0, 80));
  }
  const counts = table.rejected;
  assert.equal(counts.malformed + counts.bad_name + counts.too_big, cases.length);
  assert.equal(counts.too_big, 1);
  assert.equal(counts.bad_name, 8);
  const after = table.view();
  assert.equal(
    JSON.stringify({ ...after, rejected: {} }),
    JSON.stringify({
      ...JSON.parse(before),
      rejected: {},
    }),
  );
});

Deno.test("ClusterRegistry holds a bounded number of instances against a flood of fake ids", () => {
  const { table, clock } = registry({ maxInstances: 10 });
  for (let i = 0; i < 1_000; i++) table.receive(bytes(service(`fake-${i}`, { chat: ["join"] })));
  assert.equal(table.nodes().length, 10, "this gateway and nine fakes");
  assert.equal(table.rejected.instances_full, 991);
  assert.equal(table.route("chat.join")?.live, 9);
  // Once the fakes fall silent, room is made for a real instance.
  clock.now = 1_001;
  assert.deepEqual(table.receive(bytes(service("real", { chat: ["join"] }))), { ok: true });
  assert.deepEqual(table.nodes().map((n) => n.id), ["gw-a", "real"]);
});

Deno.test("ClusterRegistry bounds services and routes, forgetting only those no one serves", () => {
  const { table, clock } = registry({ maxServices: 3, maxRoutes: 5 });
  // One misbehaving process floods fake services; the bound holds.
  const flood: Record<string, string[]> = {};
  for (let i = 0; i < 50; i++) flood[`fake${i}`] = ["a"];
  assert.equal(table.receive(bytes(service("flood", flood))).ok, false);
  assert.equal(table.rejected.services_full, 1);
  assert.equal(table.view().services.length, 0);
  assert.equal(table.routeCount, 0);

  table.receive(bytes(service("old", { old: ["a", "b"] })));
  table.receive(bytes(service("chat", { chat: ["join", "say"] })));
  assert.deepEqual(
    table.receive(bytes(service("big", { big: ["a", "b", "c"] }))),
    { ok: false, reason: "routes_full", detail: "5 routes held" },
  );
  // `old` goes away: its routes may now be forgotten to make room, the live ones never.
  table.receive(bytes({ v: 1, op: "bye", id: "old" }));
  clock.now = 10;
  // A flood that would not fit even so is refused without forgetting anything.
  assert.equal(table.receive(bytes(service("flood", flood))).ok, false);
  assert.equal(table.route("old.a")?.live, 0, "still known: a restarting service is unavailable");
  assert.deepEqual(table.receive(bytes(service("big", { big: ["a", "b", "c"] }))), { ok: true });
  assert.equal(table.route("old.a"), undefined, "forgotten: now an unknown route");
  assert.equal(table.route("chat.join")?.live, 1);
  assert.equal(table.route("big.c")?.live, 1);
  assert.ok(table.routeCount <= 5);
  assert.deepEqual(table.view().services.map((s) => s.name), ["big", "chat"]);
  assert.deepEqual([...table.serviceInstances()].length, 2);
});

Deno.test("ClusterRegistry refuses another instance claiming this gateway's node id", () => {
  const { table } = registry();
  assert.deepEqual(table.receive(bytes(gateway("gw-a", {}))), { ok: true }, "own echo");
  const impostor = { ...gateway("gw-a", { shop: ["buy"] }), started: 9_999 };
  assert.equal((table.receive(bytes(impostor)) as { reason: string }).reason, "duplicate_id");
  assert.equal(table.route("shop.buy"), undefined);
  table.receive(bytes({ v: 1, op: "bye", id: "gw-a" }));
  assert.ok(table.isAlive("gw-a"), "no one says goodbye for this gateway");
});

Deno.test("ClusterRegistry counts as complete only a full period after NATS (re)connects", () => {
  const { table, clock } = registry();
  assert.equal(table.complete, false, "never connected yet");
  table.sweep();
  assert.equal(table.complete, false);
  table.beginSync(200);
  clock.now = 199;
  table.sweep();
  assert.equal(table.complete, false);
  clock.now = 200;
  table.sweep();
  assert.equal(table.complete, true);
  table.beginSync(200);
  assert.equal(table.complete, false, "a reconnect may have missed announcements");
});

Deno.test("ClusterRegistry's view is JSON for operators", () => {
  const { table, clock } = registry();
  table.receive(bytes(service("svc-1", { chat: ["say", "join", "join"] })));
  table.receive(bytes(gateway("gw-b", { chat: ["join"] }, 7)));
  clock.now = 150;
  const view = JSON.parse(JSON.stringify(table.view()));
  assert.equal(view.node_id, "gw-a");
  assert.deepEqual(view.instances.map((i: { id: string }) => i.id), ["gw-a", "gw-b", "svc-1"]);
  const svc = view.instances.find((i: { id: string }) => i.id === "svc-1");
  assert.deepEqual(svc, {
    id: "svc-1",
    kind: "service",
    self: false,
    started: 1_000,
    interval_ms: 200,
    services: { chat: ["join", "say"] },
    last_seen_ms: 150,
  });
  assert.deepEqual(view.services, [
    { name: "chat", instances: 1, embedded_in: 1, routes: ["chat.join", "chat.say"] },
  ]);
  assert.equal(view.routes, 2);
  assert.equal(view.rejected.malformed, 0);
});

Deno.test("serveServices refuses, before connecting, what gateways would refuse to announce", async () => {
  const servers = ["nats://127.0.0.1:1"]; // never reached: every case fails first
  const cases: [Parameters<typeof serveServices>[0], RegExp][] = [
    [{ services: [chatService], servers, instanceId: "has.dot" }, /instance id "has\.dot"/],
    [{ services: [chatService], servers, announceIntervalMs: 0 }, /announce interval 0 ms/],
    [
      { services: [{ name: "shop", routes: { "buy now": () => 1 } }], servers },
      /"buy now" is not 1-64 letters/,
    ],
  ];
  for (const [options, message] of cases) {
    await assert.rejects(serveServices(options), (error: Error) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, message);
      return true;
    });
  }
});
