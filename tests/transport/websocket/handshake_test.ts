import assert from "node:assert/strict";
import {
  acceptKey,
  checkUpgrade,
  chooseProtocol,
  encodeRefusal,
  encodeSwitchingProtocols,
  type HandshakeRefusal,
  isRefusal,
  type UpgradeOffer,
} from "../../../src/transport/websocket/handshake.ts";
import type { RequestHead } from "../../../src/transport/websocket/request_head.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

function head(
  overrides: Record<string, string | undefined> = {},
  method = "GET",
  version = "HTTP/1.1",
): RequestHead {
  const headers = new Map<string, string>();
  const fields: Record<string, string | undefined> = {
    host: "example.com",
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": KEY,
    "sec-websocket-version": "13",
    ...overrides,
  };
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined) headers.set(name, value);
  }
  return { method, target: "/ws", version, headers };
}

function refusal(result: UpgradeOffer | HandshakeRefusal): HandshakeRefusal {
  assert.ok(isRefusal(result), `expected a refusal, got ${JSON.stringify(result)}`);
  return result;
}

Deno.test("checkUpgrade accepts a valid request and lists the offered subprotocols", () => {
  const result = checkUpgrade(head({ "sec-websocket-protocol": "mmo.batch.v1, chat ,v2" }));
  assert.ok(!isRefusal(result));
  assert.equal(result.key, KEY);
  assert.deepEqual(result.protocols, ["mmo.batch.v1", "chat", "v2"]);
  assert.ok(
    !isRefusal(checkUpgrade(head({ connection: "keep-alive, Upgrade", upgrade: "WebSocket" }))),
  );
});

Deno.test("checkUpgrade refuses each failed RFC 6455 requirement with its status", () => {
  assert.equal(refusal(checkUpgrade(head({}, "POST"))).status, 405);
  assert.equal(refusal(checkUpgrade(head({}, "GET", "HTTP/1.0"))).status, 400);
  const noUpgrade = refusal(checkUpgrade(head({ upgrade: undefined })));
  assert.equal(noUpgrade.status, 426);
  assert.equal(noUpgrade.headers?.Upgrade, "websocket");
  assert.equal(refusal(checkUpgrade(head({ upgrade: "h2c" }))).status, 426);
  assert.equal(refusal(checkUpgrade(head({ connection: "keep-alive" }))).status, 400);
  assert.equal(refusal(checkUpgrade(head({ connection: undefined }))).status, 400);
  assert.equal(refusal(checkUpgrade(head({ host: undefined }))).status, 400);
  for (const version of ["8", "14", "13, 8", undefined]) {
    const refused = refusal(checkUpgrade(head({ "sec-websocket-version": version })));
    assert.equal(refused.status, 426, `version ${version}`);
    assert.equal(refused.headers?.["Sec-WebSocket-Version"], "13");
  }
  for (
    const key of [
      undefined,
      "",
      "short==",
      "dGhlIHNhbXBsZSBub25jZQ",
      "dGhlIHNhbXBsZSBub25jZR==",
      "dGhlIHNhbXBsZSBub25j$Q==",
    ]
  ) {
    assert.equal(
      refusal(checkUpgrade(head({ "sec-websocket-key": key }))).status,
      400,
      `key ${key}`,
    );
  }
  assert.equal(refusal(checkUpgrade(head({ "sec-websocket-protocol": "a b" }))).status, 400);
});

Deno.test("acceptKey gives the RFC 6455 example's answer", () => {
  assert.equal(acceptKey(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

Deno.test("chooseProtocol picks the client's first supported subprotocol, or none", () => {
  assert.equal(chooseProtocol(["b", "a"], ["a", "b"]), "b");
  assert.equal(chooseProtocol(["c"], ["a"]), undefined);
  assert.equal(chooseProtocol([], ["a"]), undefined);
});

Deno.test("encodeSwitchingProtocols writes the 101 with the accept key and subprotocol", () => {
  const text = new TextDecoder().decode(encodeSwitchingProtocols(KEY, "chat"));
  assert.equal(
    text,
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
  );
  assert.ok(
    !new TextDecoder().decode(encodeSwitchingProtocols(KEY)).includes("Sec-WebSocket-Protocol"),
  );
  assert.throws(() => encodeSwitchingProtocols(KEY, "bad protocol"), TypeError);
});

Deno.test("encodeRefusal writes a plain-text response that closes the connection", () => {
  const text = new TextDecoder().decode(
    encodeRefusal({
      status: 426,
      body: "Upgrade Required: é",
      headers: { "Sec-WebSocket-Version": "13" },
    }),
  );
  const [responseHead, body] = text.split("\r\n\r\n");
  const lines = responseHead.split("\r\n");
  assert.equal(lines[0], "HTTP/1.1 426 Upgrade Required");
  assert.ok(lines.includes("Connection: close"));
  assert.ok(lines.includes("Content-Type: text/plain; charset=utf-8"));
  assert.ok(lines.includes("Sec-WebSocket-Version: 13"));
  assert.ok(lines.includes(`Content-Length: ${new TextEncoder().encode(body).length}`));
  assert.equal(body, "Upgrade Required: é\n");
  assert.throws(() => encodeRefusal({ status: 200, body: "" }), RangeError);
  assert.throws(
    () => encodeRefusal({ status: 400, body: "", headers: { "X-A": "a\r\nSet-Cookie: b" } }),
    TypeError,
  );
  assert.throws(() => encodeRefusal({ status: 400, body: "", headers: { "X A": "a" } }), TypeError);
});
