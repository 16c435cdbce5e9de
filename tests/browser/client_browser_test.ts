/**
 * The SDK's browser bundle (`dist/client.js`, built from the current source) in headless
 * Chromium, against a real gateway, over WebSocket and over WebTransport: the page is served
 * from a real http origin and talks to the gateway as a game's page would. Over WebTransport
 * the page trusts the gateway's development certificate by the hash `/dev-cert-hash` serves,
 * and the close codes the steps check travel as WebTransport close capsules, which only a
 * browser (not Deno's own WebTransport client) reads. One browser for the whole file.
 */
import assert from "node:assert/strict";
import { type RunningGateway, startGateway } from "../../src/app.ts";
import { type GatewayConfigInput, parseConfig } from "../../src/config/config.ts";
import {
  DisconnectHeartbeatTimeout,
  DisconnectLoggedInElsewhere,
} from "../../src/core/disconnect.ts";
import { Logger } from "../../src/core/logger.ts";
import { createDefaultRouter } from "../../src/app.ts";
import type { TransportKind } from "../../src/core/transport.ts";
import { waitFor } from "../_helpers.ts";
import { worldService } from "../fixtures/zone_service.ts";
import { type BrowserPage, TestBrowser } from "./_browser.ts";
import { buildClientBundle, servePage } from "./_page_server.ts";

Deno.test("the client bundle is one ES module without imports", async () => {
  const bundle = await buildClientBundle();
  assert.doesNotMatch(bundle, /^\s*import[\s{*"']/m, "static import in dist/client.js");
  assert.doesNotMatch(bundle, /\bimport\s*\(/, "dynamic import in dist/client.js");
  assert.match(bundle, /^export\s*\{[^}]*\bGatewayClient\b/m);
});

/**
 * A gateway on 127.0.0.1 with WebSocket, QUIC with WebTransport on development certificates in
 * `devCertDir`, metrics (for `/dev-cert-hash`), the default routes and `worldService`; only `origin`
 * may connect from a browser.
 */
function startBrowserGateway(
  devCertDir: string,
  origin: string,
  overrides: GatewayConfigInput = {},
): RunningGateway {
  return startGateway(
    parseConfig({
      ...overrides,
      websocket: { host: "127.0.0.1", port: 0, allowed_origins: [origin] },
      metrics: { host: "127.0.0.1", port: 0 },
      quic: { enabled: true, host: "127.0.0.1", port: 0, dev_ca_dir: devCertDir },
      log: { level: "error" },
    }),
    { logger: new Logger("error"), router: createDefaultRouter().addService(worldService) },
  );
}

/** The page-side expression that connects a `GatewayClient` over `kind` with `options`. */
function connectExpression(
  gateway: RunningGateway,
  kind: "websocket" | "webtransport",
  options = "{}",
): string {
  if (kind === "websocket") {
    const url = JSON.stringify(`ws://127.0.0.1:${gateway.websocketAddr!.port}/ws`);
    return `sdk.GatewayClient.connect(${url}, ${options})`;
  }
  const url = JSON.stringify(`https://127.0.0.1:${gateway.quicAddr!.port}/wt`);
  const metrics = JSON.stringify(`http://127.0.0.1:${gateway.metricsAddr!.port}`);
  return `sdk.GatewayClient.connect(${url}, Object.assign({
    transport: "webtransport",
    serverCertificateHashes: await devCertHashes(${metrics}),
  }, ${options}))`;
}

for (const kind of ["websocket", "webtransport"] as const) {
  const label: TransportKind = kind;
  Deno.test(`GatewayClient in headless Chromium over ${kind}`, async (t) => {
    const bundle = await buildClientBundle();
    const server = servePage(bundle);
    const devCertDir = await Deno.makeTempDir({ prefix: "browser-certs-" });
    const origin = `http://127.0.0.1:${server.addr.port}`;
    // Without resume, so that a reconnect opens a fresh session; the resume step has its own.
    const gateway = startBrowserGateway(devCertDir, origin, { session: { resume_window_sec: 0 } });
    let browser: TestBrowser | undefined;
    try {
      await gateway.ready;
      browser = await TestBrowser.start();
      const open = () => browser!.open(`${origin}/`);
      const connect = (options?: string) => connectExpression(gateway, kind, options);

      await t.step("request and response, and an error with its code", async () => {
        const page = await open();
        const result = await page.evaluate(`(async () => {
          const client = await ${connect("{ reconnect: false }")};
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
          transport: kind,
          state: "open",
        });
        assert.equal(gateway.metrics.connectionsTotal[label], 1);
      });

      await t.step("a chat room of two browser clients receiving each other's pushes", async () => {
        const [ann, bob] = [await open(), await open()];
        const join = (name: string) =>
          `(async () => {
          globalThis.messages = [];
          globalThis.client = await ${connect()};
          client.on("chat.message", (message) => messages.push(message.from + ": " + message.text));
          return await client.request("chat.join", { room: "lobby", name: "${name}" });
        })()`;
        assert.deepEqual(await ann.evaluate(join("ann")), { ok: true, room: "lobby", name: "ann" });
        assert.deepEqual(await bob.evaluate(join("bob")), { ok: true, room: "lobby", name: "bob" });
        assert.deepEqual(await ann.evaluate(`client.request("chat.say", "hi bob")`), { ok: true });
        assert.deepEqual(await bob.evaluate(`client.request("chat.say", "hi ann")`), { ok: true });
        const heard =
          `until(() => messages.length === 2, 3000, "two messages").then(() => messages)`;
        assert.deepEqual(await ann.evaluate(heard), ["ann: hi bob", "bob: hi ann"]);
        assert.deepEqual(await bob.evaluate(heard), ["ann: hi bob", "bob: hi ann"]);
        // The page's close reaches the gateway at once (over WebTransport as a close capsule).
        await Promise.all([ann, bob].map((page) => page.evaluate("client.close()")));
        await waitFor(() => gateway.sessions.size === 0, 3_000, "both sessions to close");
        assert.equal(gateway.metrics.disconnects.get("client_closed"), 3);
      });

      await t.step(
        kind === "webtransport"
          ? "an unreliable push arrives as a datagram"
          : "an unreliable push arrives on the stream",
        async () => {
          const [ann, bob] = [await open(), await open()];
          const enter = `(async () => {
            globalThis.positions = [];
            globalThis.client = await ${connect()};
            client.on("world.position", (position) => positions.push(position));
            return await client.request("world.enter");
          })()`;
          assert.deepEqual(await ann.evaluate(enter), { ok: true });
          assert.deepEqual(await bob.evaluate(enter), { ok: true });
          const sentBefore = gateway.metrics.datagramsSent[label];
          assert.deepEqual(await bob.evaluate(`client.request("world.move", { x: 3, y: 4 })`), {
            ok: true,
          });
          const positions = `until(() => positions.length === 1, 3000, "the position")
            .then(() => positions)`;
          // Datagrams may be lost, but not on an idle loopback: one arrives at each page.
          assert.deepEqual(await ann.evaluate(positions), [{ x: 3, y: 4 }]);
          assert.deepEqual(await bob.evaluate(positions), [{ x: 3, y: 4 }]);
          assert.equal(
            gateway.metrics.datagramsSent[label] - sentBefore,
            kind === "webtransport" ? 2 : 0,
          );
          await Promise.all([ann, bob].map((page) => page.evaluate("client.close()")));
          await waitFor(() => gateway.sessions.size === 0, 3_000, "both sessions to close");
        },
      );

      /** Connects a page's client with fast reconnects and records its lifecycle events. */
      const watched = async (): Promise<BrowserPage> => {
        const page = await open();
        await page.evaluate(`(async () => {
          globalThis.events = [];
          globalThis.client = await ${
          connect("{ reconnect: { initialDelayMs: 50, maxDelayMs: 100 } }")
        };
          for (const name of ["open", "reconnecting", "resumed", "closed"]) {
            client.onEvent(name, (event) => events.push({ name, ...event }));
          }
        })()`);
        await waitFor(() => gateway.sessions.size === 1, 3_000, "the page's session");
        return page;
      };

      await t.step("a 4000 close from the gateway followed by an automatic reconnect", async () => {
        const page = await watched();
        await page.evaluate(`globalThis.counted = [];
          client.on("count", (n) => counted.push({ n, before: events.length }))`);
        const [session] = gateway.sessions.values();
        // Envelopes written just before the close arrive before it, and the close keeps its code.
        for (let n = 0; n < 20; n++) {
          session.transport.write(JSON.stringify({ type: "push", route: "count", data: n }));
        }
        gateway.sessions.close(session, DisconnectHeartbeatTimeout);
        const events = await page.evaluate<Record<string, unknown>[]>(`
          until(() => events.some((event) => event.name === "open"), 3000, "the reconnect")
            .then(() => events)`);
        assert.deepEqual(
          await page.evaluate("counted"),
          [...Array(20).keys()].map((n) => ({ n, before: 0 })),
          "every push, all before the reconnect",
        );
        assert.equal(events.length, 2, JSON.stringify(events));
        assert.deepEqual(
          { ...events[0], delayMs: 0 },
          { name: "reconnecting", code: 4000, reason: "heartbeat timeout", attempt: 1, delayMs: 0 },
        );
        assert.equal(events[1].name, "open");
        assert.equal(events[1].reconnected, true);
        assert.equal(events[1].transport, kind);
        assert.equal(await page.evaluate(`client.request("echo", "back")`), "back");
        await page.evaluate("client.close()");
        await waitFor(() => gateway.sessions.size === 0, 3_000, "the session to close");
      });

      await t.step(
        "a 4502 close from the gateway ends the client without a reconnect",
        async () => {
          const page = await watched();
          gateway.sessions.close([...gateway.sessions.values()][0], DisconnectLoggedInElsewhere);
          const events = await page.evaluate<Record<string, unknown>[]>(`
          until(() => events.some((event) => event.name === "closed"), 3000, "the close")
            .then(() => new Promise((resolve) => setTimeout(() => resolve(events), 300)))`);
          assert.deepEqual(events, [
            { name: "closed", code: 4502, reason: "logged in elsewhere" },
          ]);
          assert.equal(await page.evaluate("client.state"), "closed");
          assert.equal(gateway.sessions.size, 0);
        },
      );

      await t.step("a page of another origin is refused", async () => {
        // localhost is another origin than 127.0.0.1 for the browser (and the gateway).
        const page = await browser!.open(`http://localhost:${server.addr.port}/`);
        const rejectedBefore = gateway.metrics.rejected.origin_not_allowed;
        const result = await page.evaluate(`(async () => {
          try {
            await ${connect("{ reconnect: false, connectTimeoutMs: 3000 }")};
            return "connected";
          } catch (error) {
            return error.code;
          }
        })()`);
        assert.equal(result, "connect_failed");
        assert.equal(gateway.metrics.rejected.origin_not_allowed, rejectedBefore + 1);
        assert.equal(gateway.sessions.size, 0);
      });

      await t.step({
        name: "a 4000 close followed by a reconnect that resumes the session and replays a push",
        fn: async () => {
          const resumable = startBrowserGateway(devCertDir, origin, {
            session: { resume_window_sec: 30 },
          });
          try {
            await resumable.ready;
            const reconnectAfter = `{ reconnect: { initialDelayMs: 300, maxDelayMs: 300 } }`;
            const [ann, bob] = [await open(), await open()];
            await ann.evaluate(`(async () => {
              globalThis.events = [];
              globalThis.messages = [];
              globalThis.client = await ${connectExpression(resumable, kind, reconnectAfter)};
              client.onEvent("resumed", (event) => events.push(event));
              client.on("chat.message", (message) => messages.push(message.text));
              await client.request("chat.join", { room: "lobby", name: "ann" });
            })()`);
            await bob.evaluate(`(async () => {
              globalThis.client = await ${connectExpression(resumable, kind)};
              await client.request("chat.join", { room: "lobby", name: "bob" });
            })()`);
            const annSession = await ann.evaluate<string>("client.session");
            const session = [...resumable.sessions.values()].find((s) => s.id === annSession)!;
            resumable.sessions.close(session, DisconnectHeartbeatTimeout);
            await bob.evaluate(`client.request("chat.say", "while away")`);
            const result = await ann.evaluate(`
              until(() => events.length === 1 && messages.length === 1, 3000, "the resume")
                .then(() => ({ session: client.session, replayed: events[0].replayed, messages }))`);
            assert.deepEqual(result, {
              session: annSession,
              replayed: 1,
              messages: ["while away"],
            });
            await Promise.all([ann, bob].map((page) => page.evaluate("client.close()")));
          } finally {
            await resumable.shutdown(1_000);
          }
        },
      });
    } finally {
      await browser?.close();
      await gateway.shutdown(1_000);
      await server.shutdown();
      await Deno.remove(devCertDir, { recursive: true });
    }
  });
}
