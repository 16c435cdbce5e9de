import assert from "node:assert/strict";
import { connectTargets } from "../../src/client/gateway_url.ts";

const WS = "ws://game.test:8080/ws";
const WT = "https://game.test:8443/wt";

Deno.test("connectTargets picks the transport from the URL's scheme", () => {
  assert.deepEqual(connectTargets(WS, "auto", true), [{ kind: "websocket", url: WS }]);
  assert.deepEqual(connectTargets(new URL(WT), "auto", true), [{ kind: "webtransport", url: WT }]);
});

Deno.test("connectTargets in auto tries WebTransport first where the runtime has it", () => {
  const both = { websocket: WS, webtransport: WT };
  assert.deepEqual(connectTargets(both, "auto", true), [
    { kind: "webtransport", url: WT },
    { kind: "websocket", url: WS },
  ]);
  assert.deepEqual(connectTargets(both, "auto", false), [{ kind: "websocket", url: WS }]);
  assert.deepEqual(connectTargets(both, "websocket", true), [{ kind: "websocket", url: WS }]);
  assert.deepEqual(connectTargets(both, "webtransport", true), [{ kind: "webtransport", url: WT }]);
});

Deno.test("connectTargets refuses what cannot work, saying why", () => {
  assert.throws(() => connectTargets("http://game.test/ws", "auto", true), /scheme must be ws/);
  assert.throws(() => connectTargets(WT, "webtransport", false), /no WebTransport/);
  assert.throws(() => connectTargets(WS, "webtransport", true), /no URL for it/);
  assert.throws(() => connectTargets({ websocket: WT }, "auto", true), /must be ws: or wss:/);
  assert.throws(() => connectTargets({ webtransport: WS }, "auto", true), /must be https:/);
  assert.throws(() => connectTargets({ webtransport: WT }, "auto", false), /no URL for it/);
});
