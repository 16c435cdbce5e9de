/**
 * The cluster registry on a real nats-server, as clients see it: unknown routes against
 * unavailable ones on two nodes, service processes found and lost within the bounds, the table
 * rebuilt after a NATS restart, and garbage routes kept out of NATS.
 */
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type RunningGateway, startGateway } from "../../src/app.ts";
import { parseConfig } from "../../src/config/config.ts";
import type { RegistryView } from "../../src/cluster/registry.ts";
import { serveServices } from "../../src/cluster/service_process.ts";
import { Logger } from "../../src/core/logger.ts";
import { chatService } from "../../src/services/chat.ts";
import { clusterNode, startServiceProcess, TEST_REGISTRY } from "../_cluster.ts";
import { sample, scrape, sleep, waitFor, within } from "../_helpers.ts";
import { NatsServer } from "../_nats_server.ts";
import { Player } from "../_player.ts";

/** Longest time after its last announcement before an instance's routes are unavailable. */
const DROP_BOUND_MS = TEST_REGISTRY.instance_ttl_ms + TEST_REGISTRY.announce_interval_ms;

async function clusterView(gateway: RunningGateway): Promise<RegistryView> {
  const response = await fetch(`http://127.0.0.1:${gateway.metricsAddr!.port}/cluster`);
  assert.equal(response.status, 200);
  return await response.json();
}

/** Counts every request any gateway sends to any service (`P.svc.>`), on its own connection. */
async function watchServiceSubjects(url: string): Promise<{ nc: NatsConnection; count(): number }> {
  const nc = await connect({ servers: url });
  let seen = 0;
  nc.subscribe("mmo.svc.>", {
    callback: () => {
      seen++;
    },
  });
  await nc.flush();
  return { nc, count: () => seen };
}

const code = (reply: Record<string, unknown>) => reply.type === "response" ? "ok" : reply.code;

Deno.test({
  name:
    "registry: unknown and unavailable routes on two nodes; a service process is found at start and lost on SIGKILL within the bounds",
  fn: async () => {
    await using nats = new NatsServer();
    await nats.start();
    const a = clusterNode(nats.url);
    const b = clusterNode(nats.url);
    const players: Player[] = [];
    let service: Deno.ChildProcess | undefined;
    const watch = await watchServiceSubjects(nats.url);
    try {
      await waitFor(
        () => a.registry!.complete && b.registry!.complete,
        5_000,
        "both registries to complete",
      );
      const ann = await Player.connect(a);
      const bob = await Player.connect(b);
      players.push(ann, bob);

      // No service process yet: every routed route is unknown, on both nodes, without NATS.
      for (const player of [ann, bob]) {
        assert.equal(code(await player.request("nosuch.route")), "unknown_route");
        assert.equal(code(await player.request("chat.join", { room: "r" })), "unknown_route");
      }
      await watch.nc.flush();
      assert.equal(watch.count(), 0, "an unknown route reached NATS");
      // The nodes know each other.
      assert.ok(a.registry!.isAlive(b.registry!.selfId));
      assert.deepEqual(
        (await clusterView(b)).instances.map((i) => [i.id === b.registry!.selfId, i.kind]),
        [[true, "gateway"], [false, "gateway"]],
      );

      // A service process starts later: both nodes route to it within an announce interval.
      service = await startServiceProcess(nats.url, ["--id", "svc-test"]);
      const started = performance.now();
      await waitFor(
        () =>
          a.registry!.route("chat.join")?.live === 1 && b.registry!.route("chat.join")?.live === 1,
        TEST_REGISTRY.announce_interval_ms + 1_000,
        "both nodes to learn of the service process",
      );
      const foundMs = performance.now() - started;
      for (const player of [ann, bob]) {
        assert.equal(code(await player.request("chat.join", { room: "r", name: "p" })), "ok");
      }
      assert.equal(code(await ann.request("chat.nope")), "unknown_route", "an unannounced method");
      assert.equal(sample(await scrape(a), 'gateway_service_instances{service="chat"}'), 1);
      assert.equal(sample(await scrape(b), 'gateway_service_instances{service="account"}'), 1);
      assert.equal(sample(await scrape(a), 'gateway_cluster_instances{kind="gateway"}'), 2);
      const view = await clusterView(a);
      const svc = view.instances.find((i) => i.id === "svc-test");
      assert.deepEqual(svc?.services.chat, ["join", "leave", "say"]);
      assert.deepEqual(view.services.find((s) => s.name === "chat")?.instances, 1);
      assert.ok(a.registry!.isAlive("svc-test"));

      // SIGKILL: no goodbye. The routes turn unavailable once the TTL runs out, and stay known.
      service.kill("SIGKILL");
      await service.status;
      service = undefined;
      const killed = performance.now();
      await waitFor(
        () =>
          a.registry!.route("chat.say")?.live === 0 && b.registry!.route("chat.say")?.live === 0,
        DROP_BOUND_MS + 2_000,
        "both nodes to drop the killed service process",
      );
      const droppedMs = performance.now() - killed;
      assert.ok(
        droppedMs <= DROP_BOUND_MS + 500,
        `dropped after ${droppedMs.toFixed(0)} ms, past the bound of ${DROP_BOUND_MS} ms`,
      );
      assert.ok(
        droppedMs >= TEST_REGISTRY.instance_ttl_ms - 2 * TEST_REGISTRY.announce_interval_ms,
        `dropped after ${droppedMs.toFixed(0)} ms: sooner than the TTL allows`,
      );
      const before = watch.count();
      for (const player of [ann, bob]) {
        assert.equal(code(await player.request("chat.say", { text: "hi" })), "service_unavailable");
        assert.equal(code(await player.request("nosuch.route")), "unknown_route");
      }
      await watch.nc.flush();
      assert.equal(watch.count(), before, "an unavailable route still went to NATS");
      assert.ok(ann.open && bob.open, "service_unavailable counted as a protocol error");
      assert.equal(a.registry!.isAlive("svc-test"), false);
      assert.equal(sample(await scrape(a), 'gateway_service_instances{service="chat"}'), 0);
      const after = await clusterView(b);
      assert.equal(after.instances.length, 2);
      assert.equal(after.services.find((s) => s.name === "chat")?.instances, 0);
      console.log(
        `service process known ${foundMs.toFixed(0)} ms after its serving log line; ` +
          `dropped ${droppedMs.toFixed(0)} ms after SIGKILL (bound ${DROP_BOUND_MS} ms)`,
      );
    } finally {
      await Promise.all(players.map((p) => p.close()));
      if (service) {
        service.kill("SIGKILL");
        await service.status;
      }
      await watch.nc.close();
      await a.shutdown(1_000);
      await b.shutdown(1_000);
    }
  },
});

Deno.test({
  name: "registry: a NATS restart rebuilds the table; a service process's goodbye drops it at once",
  fn: async () => {
    await using nats = new NatsServer();
    await nats.start();
    const a = clusterNode(nats.url);
    const b = clusterNode(nats.url);
    const service = await serveServices({
      services: [chatService],
      servers: [nats.url],
      reconnectWaitMs: 100,
      announceIntervalMs: TEST_REGISTRY.announce_interval_ms,
      instanceId: "svc-chat",
      logger: new Logger("error", () => {}),
    });
    const players: Player[] = [];
    const everyoneKnown = () =>
      [a, b].every((node) =>
        node.registry!.complete && node.registry!.nodes().length === 3 &&
        node.registry!.route("chat.join")?.live === 1
      );
    try {
      await waitFor(everyoneKnown, 5_000, "both nodes to know each other and the service");
      const ann = await Player.connect(a);
      players.push(ann);
      assert.equal(code(await ann.request("chat.join", { room: "r", name: "ann" })), "ok");

      // NATS goes away for longer than the TTL: every other instance drops out of the tables.
      await nats.kill();
      await waitFor(
        () =>
          [a, b].every((node) =>
            node.registry!.nodes().length === 1 && node.registry!.route("chat.join")?.live === 0
          ),
        DROP_BOUND_MS + 2_000,
        "the nodes to drop everyone else while NATS is down",
      );
      assert.equal(code(await ann.request("chat.say", { text: "x" })), "service_unavailable");

      // NATS is back: the query on reconnect rebuilds both tables.
      await nats.start();
      const restarted = performance.now();
      await waitFor(everyoneKnown, 10_000, "both tables to be rebuilt after the restart");
      const rebuiltMs = performance.now() - restarted;
      assert.equal(code(await ann.request("chat.say", { text: "back" })), "ok");
      assert.equal(code(await ann.request("nosuch.route")), "unknown_route");

      // A clean stop says goodbye: unavailable at once, not a TTL later.
      const closing = performance.now();
      await service.close();
      await waitFor(
        () =>
          a.registry!.route("chat.join")?.live === 0 && b.registry!.route("chat.join")?.live === 0,
        TEST_REGISTRY.instance_ttl_ms,
        "the goodbye to reach both nodes",
      );
      const byeMs = performance.now() - closing;
      assert.ok(byeMs < TEST_REGISTRY.instance_ttl_ms / 2, `goodbye took ${byeMs.toFixed(0)} ms`);
      assert.equal(code(await ann.request("chat.say", { text: "x" })), "service_unavailable");
      console.log(
        `tables rebuilt ${rebuiltMs.toFixed(0)} ms after nats-server restarted; ` +
          `goodbye applied in ${byeMs.toFixed(0)} ms`,
      );
    } finally {
      await Promise.all(players.map((p) => p.close()));
      await service.close();
      await a.shutdown(1_000);
      await b.shutdown(1_000);
    }
  },
});

Deno.test({
  name:
    "registry: 10,000 distinct garbage routes from one client cause no NATS request and end in 1008",
  fn: async () => {
    await using nats = new NatsServer();
    await nats.start();
    const GARBAGE = 10_000;
    // The rate limit would close this client long before; the registry is what is tested.
    const a = clusterNode(nats.url, {
      protocol: { max_protocol_errors: GARBAGE },
      limits: { messages_per_sec: 0 },
    });
    const service = await serveServices({
      services: [chatService],
      servers: [nats.url],
      reconnectWaitMs: 100,
      announceIntervalMs: TEST_REGISTRY.announce_interval_ms,
      logger: new Logger("error", () => {}),
    });
    const watch = await watchServiceSubjects(nats.url);
    let socket: WebSocket | undefined;
    try {
      await waitFor(
        () => a.registry!.complete && a.registry!.route("chat.join")?.live === 1,
        5_000,
        "the registry to know the chat service",
      );
      // The watch sees a real request, so its silence below means something.
      const control = await Player.connect(a);
      assert.equal(code(await control.request("chat.join", { room: "r", name: "c" })), "ok");
      await control.close();
      await watch.nc.flush();
      assert.equal(watch.count(), 1, "the watch missed a real request");

      socket = new WebSocket(`ws://127.0.0.1:${a.websocketAddr!.port}/ws`);
      const ws = socket;
      await within(new Promise((resolve) => ws.onopen = resolve), 3_000, "open");
      let unknown = 0;
      ws.onmessage = (event) => {
        if (JSON.parse(event.data).code === "unknown_route") unknown++;
      };
      const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
      const shapes = [
        (i: number) => `svc${i}.m${i}`, // looks like a real route
        (i: number) => `chat.x${i}`, // a real service, no such method
        (i: number) => `garbage-${i}`,
        (i: number) => `a.b.c${i}`,
        (i: number) => `>.*${i}`,
      ];
      for (let i = 0; i < GARBAGE; i++) {
        ws.send(JSON.stringify({ type: "request", id: i + 1, route: shapes[i % 5](i) }));
      }
      const close = await within(closed, 10_000, "the 1008 close");
      assert.equal(close.code, 1008);
      await watch.nc.flush();
      await sleep(100);
      await watch.nc.flush();
      assert.equal(watch.count(), 1, `${watch.count() - 1} garbage routes reached NATS`);
      const text = await scrape(a);
      assert.equal(sample(text, 'gateway_error_replies_total{code="unknown_route"}'), GARBAGE);
      assert.equal(sample(text, 'gateway_disconnects_total{reason="protocol_errors"}'), 1);
      assert.ok(unknown >= GARBAGE - 1, `only ${unknown} unknown_route replies arrived`);
      assert.equal(a.registry!.routeCount, 3, "garbage routes entered the registry");
    } finally {
      socket?.close();
      await watch.nc.close();
      await service.close();
      await a.shutdown(1_000);
    }
  },
});

Deno.test("a service process closes cleanly while NATS is down", async () => {
  await using nats = new NatsServer();
  await nats.start();
  const service = await serveServices({
    services: [chatService],
    servers: [nats.url],
    reconnectWaitMs: 100,
    logger: new Logger("error", () => {}),
  });
  await nats.kill();
  await within(service.close(), 3_000, "the service process to close");
});

Deno.test("a cluster node that cannot bind stops its NATS link and registry timers", async () => {
  await using nats = new NatsServer();
  await nats.start();
  const nc = await connect({ servers: nats.url });
  let heard = 0;
  nc.subscribe("mmo.reg.>", {
    callback: () => {
      heard++;
    },
  });
  await nc.flush();
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    assert.throws(() =>
      startGateway(
        parseConfig({
          websocket: { host: "127.0.0.1", port: 0 },
          metrics: { host: "127.0.0.1", port: taken.addr.port },
          cluster: { nats: { servers: [nats.url] }, registry: TEST_REGISTRY },
        }),
        { logger: new Logger("error", () => {}) },
      )
    );
    // A node left running would connect, query and announce every 200 ms.
    await sleep(3 * TEST_REGISTRY.announce_interval_ms);
    await nc.flush();
    assert.equal(heard, 0, "the failed node is still on NATS");
  } finally {
    await nc.close();
  }
});
