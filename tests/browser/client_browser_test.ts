/**
 * The SDK's browser bundle (`dist/client.js`, built from the current source) in headless
 * Chromium, against a real gateway: the page is served from a real http origin and talks to
 * the gateway as a game's page would. One browser for the whole file.
 */
import assert from "node:assert/strict";
import { DisconnectHeartbeatTimeout } from "../../src/core/disconnect.ts";
import { startTestGateway, waitFor } from "../_helpers.ts";
import { TestBrowser } from "./_browser.ts";
import { buildClientBundle, servePage } from "./_page_server.ts";

Deno.test("the client bundle is one ES module without imports", async () => {
  const bundle = await buildClientBundle();
  assert.doesNotMatch(bundle, /^\s*import[\s{*"']/m, "static import in dist/client.js");
  assert.doesNotMatch(bundle, /\bimport\s*\(/, "dynamic import in dist/client.js");
  assert.match(bundle, /^export\s*\{[^}]*\bGatewayClient\b/m);
});

Deno.test("GatewayClient in headless Chromium over WebSocket", async (t) => {
  const bundle = await buildClientBundle();
  // Without resume, so that a reconnect opens a fresh session; the resume step has its own.
  await using gateway = startTestGateway({ session: { resume_window_sec: 0 } });
  const server = servePage(bundle);
  let browser: TestBrowser | undefined;
  try {
    browser = await TestBrowser.start();
    const origin = `http://127.0.0.1:${server.addr.port}/`;
    const ws = JSON.stringify(`ws://127.0.0.1:${gateway.websocketAddr!.port}/ws`);

    await t.step("request and response, and an error with its code", async () => {
      const page = await browser!.open(origin);
      const result = await page.evaluate(`(async () => {
        const client = await sdk.GatewayClient.connect(${ws}, { reconnect: false });
        try {
          const echoed = await client.request("echo", { hello: "browser" });
          const error = await client.request("no.such", 1).then(
            () => null,
            (error) => ({ name: error.name, code: error.code, route: error.route }),
          );
          return { echoed, error, transport: client.transport, state: client.state };
        } finally {
          await client.close();
        }
      })()`);
      assert.deepEqual(result, {
        echoed: { hello: "browser" },
        error: { name: "GatewayError", code: "unknown_route", route: "no.such" },
        transport: "websocket",
        state: "open",
      });
    });

    await t.step("a chat room of two browser clients receiving each other's pushes", async () => {
      const [ann, bob] = [await browser!.open(origin), await browser!.open(origin)];
      const join = (name: string) =>
        `(async () => {
        globalThis.messages = [];
        globalThis.client = await sdk.GatewayClient.connect(${ws});
        client.on("chat.message", (message) => messages.push(message.from + ": " + message.text));
        return await client.request("chat.join", { room: "lobby", name: "${name}" });
      })()`;
      assert.deepEqual(await ann.evaluate(join("ann")), { ok: true, room: "lobby", name: "ann" });
      assert.deepEqual(await bob.evaluate(join("bob")), { ok: true, room: "lobby", name: "bob" });
      assert.deepEqual(await ann.evaluate(`client.request("chat.say", "hi bob")`), { ok: true });
      assert.deepEqual(await bob.evaluate(`client.request("chat.say", "hi ann")`), { ok: true });
      const heard = `until(() => messages.length === 2, 3000, "two messages").then(() => messages)`;
      assert.deepEqual(await ann.evaluate(heard), ["ann: hi bob", "bob: hi ann"]);
      assert.deepEqual(await bob.evaluate(heard), ["ann: hi bob", "bob: hi ann"]);
      await Promise.all([ann, bob].map((page) => page.evaluate("client.close()")));
      await waitFor(() => gateway.sessions.size === 0, 3_000, "both sessions to close");
    });

    await t.step("a 4000 close from the gateway followed by an automatic reconnect", async () => {
      const page = await browser!.open(origin);
      await page.evaluate(`(async () => {
        globalThis.events = [];
        globalThis.client = await sdk.GatewayClient.connect(${ws}, {
          reconnect: { initialDelayMs: 50, maxDelayMs: 100 },
        });
        for (const name of ["open", "reconnecting", "resumed", "closed"]) {
          client.onEvent(name, (event) => events.push({ name, ...event }));
        }
      })()`);
      await waitFor(() => gateway.sessions.size === 1, 3_000, "the page's session");
      gateway.sessions.close([...gateway.sessions.values()][0], DisconnectHeartbeatTimeout);
      const events = await page.evaluate<Record<string, unknown>[]>(`
        until(() => events.some((event) => event.name === "open"), 3000, "the reconnect")
          .then(() => events)`);
      assert.equal(events.length, 2, JSON.stringify(events));
      assert.deepEqual(
        { ...events[0], delayMs: 0 },
        { name: "reconnecting", code: 4000, reason: "heartbeat timeout", attempt: 1, delayMs: 0 },
      );
      assert.equal(events[1].name, "open");
      assert.equal(events[1].reconnected, true);
      assert.equal(await page.evaluate(`client.request("echo", "back")`), "back");
      await page.evaluate("client.close()");
    });

    await t.step({
      name: "a 4000 close followed by a reconnect that resumes the session and replays a push",
      fn: async () => {
        await using resumable = startTestGateway({ session: { resume_window_sec: 30 } });
        const url = JSON.stringify(`ws://127.0.0.1:${resumable.websocketAddr!.port}/ws`);
        const [ann, bob] = [await browser!.open(origin), await browser!.open(origin)];
        await ann.evaluate(`(async () => {
          globalThis.events = [];
          globalThis.messages = [];
          globalThis.client = await sdk.GatewayClient.connect(${url}, {
            reconnect: { initialDelayMs: 300, maxDelayMs: 300 },
          });
          client.onEvent("resumed", (event) => events.push(event));
          client.on("chat.message", (message) => messages.push(message.text));
          await client.request("chat.join", { room: "lobby", name: "ann" });
        })()`);
        await bob.evaluate(`(async () => {
          globalThis.client = await sdk.GatewayClient.connect(${url});
          await client.request("chat.join", { room: "lobby", name: "bob" });
        })()`);
        const annSession = await ann.evaluate<string>("client.session");
        const session = [...resumable.sessions.values()].find((s) => s.id === annSession)!;
        resumable.sessions.close(session, DisconnectHeartbeatTimeout);
        await bob.evaluate(`client.request("chat.say", "while away")`);
        const result = await ann.evaluate(`
          until(() => events.length === 1 && messages.length === 1, 3000, "the resume")
            .then(() => ({ session: client.session, replayed: events[0].replayed, messages }))`);
        assert.deepEqual(result, { session: annSession, replayed: 1, messages: ["while away"] });
        await Promise.all([ann, bob].map((page) => page.evaluate("client.close()")));
      },
    });
  } finally {
    await browser?.close();
    await server.shutdown();
  }
});
