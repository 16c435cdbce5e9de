import assert from "node:assert/strict";
import { startGateway } from "../../src/app.ts";
import { parseConfig } from "../../src/config/config.ts";
import { echo, Router } from "../../src/services/router.ts";
import { defineService } from "../../src/core/service.ts";
import { chatService } from "../../src/services/chat.ts";
import { recordingLogger, startTestGateway, waitFor } from "../_helpers.ts";
import { Player } from "../_player.ts";

Deno.test("chat: everyone in a room gets each other's messages, other rooms do not", async () => {
  await using gateway = startTestGateway();
  const [ann, bob, cat] = await Promise.all([1, 2, 3].map(() => Player.connect(gateway)));
  try {
    assert.deepEqual(await ann.request("chat.join", { room: "lobby", name: "ann" }), {
      type: "response",
      id: 1,
      data: { ok: true, room: "lobby", name: "ann" },
    });
    await bob.request("chat.join", { room: "lobby", name: "bob" });
    const joined = (await cat.request("chat.join", "elsewhere")).data as Record<string, unknown>;
    assert.deepEqual([joined.ok, joined.room], [true, "elsewhere"]);
    assert.match(String(joined.name), /^player-[0-9a-f]{8}$/);
    await waitFor(() => ann.pushes("chat.presence").length === 1, 3_000, "bob's presence");
    const presence = ann.pushes("chat.presence")[0].data as Record<string, unknown>;
    assert.deepEqual([presence.name, presence.event], ["bob", "joined"]);
    assert.deepEqual((await bob.request("chat.say", "hi all")).data, { ok: true });
    await waitFor(
      () => ann.pushes("chat.message").length === 1 && bob.pushes("chat.message").length === 1,
      3_000,
      "the message in the room",
    );
    const message = ann.pushes("chat.message")[0].data as Record<string, unknown>;
    assert.deepEqual([message.room, message.from, message.text], ["lobby", "bob", "hi all"]);
    assert.equal(cat.pushes("chat.message").length, 0);
    assert.equal(gateway.hub.groupSize("chat:lobby"), 2);
    await bob.close();
    await waitFor(() => gateway.hub.groupSize("chat:lobby") === 1, 3_000, "bob leaving the group");
    assert.deepEqual((await ann.request("chat.leave")).data, { ok: true, room: "lobby" });
    assert.equal(gateway.hub.groupSize("chat:lobby"), 0);
    assert.deepEqual((await ann.request("chat.say", { text: "anyone?" })).data, {
      ok: false,
      error: "join a room first",
    });
  } finally {
    await Promise.all([ann.close(), cat.close()]);
  }
});

Deno.test("services: notify gets no reply, pushes reach a user's sessions, slow routes time out", async () => {
  const game = defineService({
    name: "game",
    routes: {
      login(data, ctx) {
        ctx.setUser(String((data as { user: string }).user));
        return { user: ctx.userId };
      },
      poke(data, ctx) {
        ctx.pushToUser(String(data), "game.poked", { by: ctx.sessionId });
      },
      slow: () => new Promise((resolve) => setTimeout(resolve, 500)),
      broken: () => Promise.reject(new Error("secret stack")),
    },
  });
  const { logger, lines } = recordingLogger();
  await using gateway = startGateway(
    parseConfig({
      websocket: { host: "127.0.0.1", port: 0 },
      metrics: { enabled: false },
      routing: { request_timeout_ms: 100 },
    }),
    { logger, router: new Router().register("echo", echo).addService(game) },
  );
  const [phone, laptop, friend] = await Promise.all([1, 2, 3].map(() => Player.connect(gateway)));
  try {
    await phone.request("game.login", { user: "alice" });
    await laptop.request("game.login", { user: "alice" });
    friend.socket.send(JSON.stringify({ type: "notify", route: "game.poke", data: "alice" }));
    await waitFor(
      () => phone.pushes("game.poked").length === 1 && laptop.pushes("game.poked").length === 1,
      3_000,
      "the push to both of alice's sessions",
    );
    assert.equal(friend.inbox.length, 0, "a notify gets no reply");
    friend.socket.send(JSON.stringify({ type: "notify", route: "game.nope" }));
    await waitFor(() => friend.inbox.length === 1, 3_000, "the unknown-route error");
    assert.equal(friend.inbox[0].code, "unknown_route");
    const slow = await friend.request("game.slow");
    assert.deepEqual([slow.type, slow.code], ["error", "timeout"]);
    const broken = await friend.request("game.broken");
    assert.deepEqual([broken.code, broken.message], [
      "internal_error",
      "The request could not be handled",
    ]);
    const logged = lines.find((line) => line.msg === "route handler failed");
    assert.match(String(logged?.error), /secret stack/);
  } finally {
    await Promise.all([phone.close(), laptop.close(), friend.close()]);
    await new Promise((resolve) => setTimeout(resolve, 500)); // let the slow handler's timer end
  }
});

Deno.test("defineService rejects bad names and non-function handlers", () => {
  assert.throws(
    () => defineService({ name: "bad.name", routes: {} }),
    /Cannot define service "bad.name"/,
  );
  assert.throws(
    () => defineService({ name: "ok", routes: { "a.b": () => 1 } }),
    /Cannot define route "ok.a.b"/,
  );
  assert.throws(
    () => defineService({ name: "ok", routes: { x: 5 as unknown as () => unknown } }),
    /handler is not a function/,
  );
  assert.throws(
    () => new Router().addService(chatService).addService(chatService),
    /already registered/,
  );
});
