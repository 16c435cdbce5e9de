import assert from "node:assert/strict";
import {
  decodeSettings,
  encodeFrame,
  encodeSettings,
  serverSettings,
  Setting,
  supportsWebTransport,
} from "../../../src/transport/webtransport/http3.ts";

Deno.test("SETTINGS round-trip and the server's enable WebTransport for a browser", () => {
  const settings = serverSettings();
  assert.deepEqual(decodeSettings(encodeSettings(settings)), settings);
  assert.equal(settings.get(Setting.enableConnectProtocol), 1);
  assert.equal(settings.get(Setting.h3Datagram), 1);
  assert.equal(settings.get(Setting.webTransportMaxSessions), 1);
  // A frame is its type, its length and the payload.
  assert.deepEqual([...encodeFrame(0x04, new Uint8Array([0x33, 0x01]))], [0x04, 0x02, 0x33, 0x01]);
});

Deno.test("a client supports WebTransport only with datagrams and sessions enabled", () => {
  const datagrams = [Setting.h3Datagram, 1] as const;
  assert.ok(supportsWebTransport(new Map([datagrams, [Setting.webTransportMaxSessions, 1]])));
  assert.ok(supportsWebTransport(new Map([datagrams, [Setting.webTransportEnableDraft02, 1]])));
  assert.ok(
    supportsWebTransport(
      new Map([[Setting.h3DatagramDraft04, 1], [Setting.webTransportMaxSessions, 4]]),
    ),
  );
  assert.equal(supportsWebTransport(new Map([[Setting.webTransportMaxSessions, 1]])), false);
  assert.equal(
    supportsWebTransport(new Map([datagrams, [Setting.webTransportMaxSessions, 0]])),
    false,
  );
  assert.equal(supportsWebTransport(new Map([datagrams])), false);
});

Deno.test("SETTINGS that end inside a pair or repeat an identifier do not decode", () => {
  assert.throws(() => decodeSettings(new Uint8Array([0x33])), /ends inside a setting/);
  assert.throws(() => decodeSettings(new Uint8Array([0x33, 1, 0x33, 1])), /0x33 repeats/);
});
