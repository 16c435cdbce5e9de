import assert from "node:assert/strict";
import type { RunningGateway } from "../../src/app.ts";
import { NatsServer } from "../_nats_server.ts";
import { Player } from "../_player.ts";
import { sample, scrape, waitFor } from "../_helpers.ts";
import { clusterNode as node, startServiceProcess as serviceProcess } from "../_cluster.ts";

async function health(gateway: RunningGateway): Promise<Record<string, unknown>> {
  const response = await fetch(`http://127.0.0.1:${gateway.metricsAddr!.port}/health`);
  return await response.json();
}

Deno.test({
  name: "cluster: players on two nodes chat, pushes cross nodes, NATS restarts lose nothing",
  fn: async () => {
    await using nats = new NatsServer();
    await nats.start();
    const service = await serviceProcess(nats.url);
    const a = node(nats.url);
    const b = node(nats.url);
    const players: Player[] = [];
    try {
      await waitFor(
        () => a.registry!.complete && b.registry!.complete,
        5_000,
        "both nodes' cluster registries",
      );
      const ann = await Player.connect(a);
      const bob = await Player.connect(b);
      players.push(ann, bob);

      // Chat across nodes, served by the service process.
      assert.deepEqual((await ann.request("chat.join", { room: "lobby", name: "ann" })).data, {
        ok: true,
        room: "lobby",
        name: "ann",
      });
      await bob.request("chat.join", { room: "lobby", name: "bob" });
      assert.equal(a.hub.groupSize("chat:lobby"), 1);
      assert.equal(b.hub.groupSize("chat:lobby"), 1);
      await ann.request("chat.say", { text: "hello from A" });
      await bob.request("chat.say", { text: "hello from B" });
      const texts = (p: Player) =>
        p.pushes("chat.message").map((m) => (m.data as { text: string }).text);
      await waitFor(
        () => texts(ann).length === 2 && texts(bob).length === 2,
        5_000,
        "both messages on both nodes",
      );
      assert.deepEqual(texts(ann).sort(), ["hello from A", "hello from B"]);
      assert.deepEqual(texts(bob).sort(), ["hello from A", "hello from B"]);

      // A push to a user reaches them on the other node.
      await bob.request("account.login", { user: "bob" });
      await ann.request("account.login", { user: "ann" });
      await ann.request("account.poke", { user: "bob" });
      await waitFor(() => bob.pushes("account.poked").length === 1, 5_000, "the poke on node B");
      assert.deepEqual(bob.pushes("account.poked")[0].data, { by: "ann" });

      // Handler internals stay out of replies; unknown methods are unknown routes.
      const failed = await ann.request("account.fail");
      assert.deepEqual([failed.code, failed.message], [
        "internal_error",
        "The request could not be handled",
      ]);
      assert.equal((await ann.request("account.nope")).code, "unknown_route");
      assert.equal((await ann.request("nosuch.service")).code, "unknown_route");

      // NATS dies: sessions stay, routed requests fail fast, health and metrics say so.
      await nats.kill();
      await waitFor(() => a.health().cluster?.nats === "down", 5_000, "node A to notice");
      const started = performance.now();
      const unavailable = await ann.request("chat.say", { text: "anyone?" });
      assert.equal(unavailable.code, "service_unavailable");
      assert.ok(performance.now() - started < 1_000, "a request hung while NATS was down");
      assert.equal(
        (await ann.request("echo", "local")).data,
        "local",
        "embedded routes keep working",
      );
      const down = await health(a);
      assert.deepEqual([down.status, (down.cluster as { nats: string }).nats], [
        "degraded",
        "down",
      ]);
      assert.equal(sample(await scrape(a), "gateway_nats_connected"), 0);
      assert.ok(ann.open && bob.open, "a session was lost while NATS was down");

      // NATS is back: everyone reconnects by themselves and routes work again.
      await nats.start();
      await waitFor(
        () => a.health().cluster?.nats === "connected" && b.health().cluster?.nats === "connected",
        10_000,
        "both nodes to reconnect",
      );
      // The service process reconnects on its own schedule; retry until it serves again.
      let again: Record<string, unknown> = {};
      const deadline = performance.now() + 10_000;
      while (performance.now() < deadline) {
        again = await ann.request("chat.say", { text: "back again" });
        if (again.type === "response") break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.equal(again.type, "response", `routes did not come back: ${JSON.stringify(again)}`);
      await waitFor(
        () => texts(bob).includes("back again"),
        5_000,
        "the message after the restart",
      );
      assert.ok(sample(await scrape(a), "gateway_nats_reconnects_total")! >= 1);
      assert.equal(a.sessions.size + b.sessions.size, 2);
    } finally {
      await Promise.all(players.map((p) => p.close()));
      await a.shutdown(1_000);
      await b.shutdown(1_000);
      service.kill("SIGTERM");
      await service.status;
    }
  },
});
