/**
 * The SDK's authentication and session resume against the real gateway: `auth`,
 * `auth.expiring`, 4003/4500, and `hello`, `resume`, `seq`, replay, 4004.
 */
import assert from "node:assert/strict";
import type { GatewayConfigInput } from "../../src/config/config.ts";
import {
  DisconnectHeartbeatTimeout,
  DisconnectResumeElsewhere,
  DisconnectTokenExpired,
} from "../../src/core/disconnect.ts";
import {
  ClientErrorCode,
  GatewayClient,
  GatewayError,
  type OpenEvent,
  type ReconnectingEvent,
  type ResumedEvent,
} from "../../src/client/mod.ts";
import { sleep, waitFor, within } from "../_helpers.ts";
import { signToken } from "./_jwt.ts";
import {
  closeFromGateway,
  FAST,
  HeldRoute,
  onlySession,
  startClientGateway,
  wsUrl,
} from "./_client_gateway.ts";

const SECRET = "test-secret-of-at-least-32-bytes-length";

/** The environment variable that holds `SECRET` for the gateway (`auth.jwt.hmac_secret_env`). */
const SECRET_ENV = "MMO_CLIENT_TEST_JWT_SECRET";
Deno.env.set(SECRET_ENV, SECRET);

/** The identity config: HS256 tokens with `SECRET`, `auth.expiring` 2 s before expiry. */
const AUTH: GatewayConfigInput = {
  auth: {
    mode: "jwt",
    jwt: { hmac_secret_env: SECRET_ENV, leeway_sec: 0 },
    expiry_notice_sec: 2,
  },
};

/** The resume feature's config: a session may be resumed for `windowSec` after a drop. */
function resumeConfig(windowSec = 30): GatewayConfigInput {
  return { session: { resume_window_sec: windowSec } };
}

function next<T>(client: GatewayClient, name: "open" | "resumed" | "reconnecting"): Promise<T> {
  return new Promise((resolve) => {
    const stop = client.onEvent(name, (event: unknown) => {
      stop();
      resolve(event as T);
    });
  });
}

Deno.test({
  name: "GatewayClient authenticates first with its token and learns its user and session",
  async fn() {
    await using gateway = startClientGateway(undefined, AUTH);
    const token = await signToken(SECRET, "ann", 60);
    await using client = await GatewayClient.connect(wsUrl(gateway), { ...FAST, token });
    assert.equal(client.user, "ann");
    assert.equal(typeof client.session, "string");
    assert.equal(await client.request("echo", 1), 1);
  },
});

Deno.test({
  name: "GatewayClient.connect rejects a bad token with unauthorized and never reconnects",
  async fn() {
    await using gateway = startClientGateway(undefined, AUTH);
    const token = await signToken("another-secret-of-at-least-32-bytes", "ann", 60);
    const error = await GatewayClient.connect(wsUrl(gateway), { ...FAST, token })
      .catch((error) => error);
    assert.ok(error instanceof GatewayError);
    assert.equal(error.code, "unauthorized");
    await waitFor(() => gateway.sessions.size === 0, 2_000, "the gateway to close the session");
  },
});

Deno.test({
  name: "GatewayClient refreshes its token when the gateway warns auth.expiring",
  async fn() {
    await using gateway = startClientGateway(undefined, AUTH);
    let fetched = 0;
    await using client = await GatewayClient.connect(wsUrl(gateway), {
      ...FAST,
      token: await signToken(SECRET, "ann", 3),
      getToken: () => (fetched++, signToken(SECRET, "ann", 60)),
    });
    let reconnects = 0;
    client.onEvent("reconnecting", () => reconnects++);
    await sleep(4_000); // past the first token's expiry
    assert.ok(fetched >= 1, "getToken was not called");
    assert.equal(reconnects, 0);
    assert.equal(await client.request("echo", "still here"), "still here");
  },
});

Deno.test({
  name: "GatewayClient reconnects after 4003 with a fresh token from getToken",
  async fn() {
    await using gateway = startClientGateway(undefined, AUTH);
    let fetched = 0;
    await using client = await GatewayClient.connect(wsUrl(gateway), {
      ...FAST,
      token: await signToken(SECRET, "ann", 60),
      getToken: () => (fetched++, signToken(SECRET, "ann", 60)),
    });
    const reconnecting = next<ReconnectingEvent>(client, "reconnecting");
    const back = Promise.race([next(client, "open"), next(client, "resumed")]);
    closeFromGateway(gateway, DisconnectTokenExpired);
    assert.equal((await within(reconnecting, 2_000, "reconnecting")).code, 4003);
    await within(back, 3_000, "the session to come back");
    assert.equal(fetched, 1);
    assert.equal(client.user, "ann");
  },
});

Deno.test({
  name: "GatewayClient resumes after a 4000 close and gets the missed pushes exactly once",
  async fn() {
    await using gateway = startClientGateway(undefined, resumeConfig());
    await using ann = await GatewayClient.connect(wsUrl(gateway), {
      ...FAST,
      reconnect: { initialDelayMs: 300, maxDelayMs: 300 },
    });
    await using bob = await GatewayClient.connect(wsUrl(gateway), FAST);
    const heard: string[] = [];
    ann.on<{ text: string }>("chat.message", (message) => heard.push(message.text));
    await ann.request("chat.join", { room: "lobby", name: "ann" });
    await bob.request("chat.join", { room: "lobby", name: "bob" });
    await bob.request("chat.say", "before");
    await waitFor(() => heard.length === 1, 2_000, "the first message");
    const session = ann.session;
    assert.equal(typeof session, "string");
    const resumed = next<ResumedEvent>(ann, "resumed");
    const annSession = [...gateway.sessions.values()].find((s) => s.id === session)!;
    gateway.sessions.close(annSession, DisconnectHeartbeatTimeout);
    await waitFor(() => ann.state === "reconnecting", 2_000, "ann to notice the drop");
    await bob.request("chat.say", "while away");
    const event = await within(resumed, 3_000, "the resume");
    assert.equal(event.session, session);
    assert.ok(event.replayed >= 1);
    await bob.request("chat.say", "after");
    await waitFor(() => heard.length === 3, 2_000, "the live message");
    assert.deepEqual(heard, ["before", "while away", "after"]);
    assert.equal(ann.session, session);
  },
});

Deno.test({
  name: "GatewayClient answers a request in flight at the drop from the resumed session's replay",
  async fn() {
    const held = new HeldRoute();
    await using gateway = startClientGateway(held, resumeConfig());
    await using client = await GatewayClient.connect(wsUrl(gateway), {
      ...FAST,
      reconnect: { initialDelayMs: 300, maxDelayMs: 300 },
    });
    try {
      const answer = client.request("test.held", "kept");
      await waitFor(() => held.waiting === 1, 2_000, "the request to reach the route");
      closeFromGateway(gateway, DisconnectHeartbeatTimeout);
      await waitFor(() => client.state === "reconnecting", 2_000, "the drop");
      held.releaseAll(); // answered while the client is away: kept for the replay
      assert.equal(await within(answer, 3_000, "the replayed answer"), "kept");
    } finally {
      held.releaseAll();
    }
  },
});

Deno.test({
  name:
    "GatewayClient rejects with connection_lost what the replay of a resumed session did not answer",
  async fn() {
    const held = new HeldRoute();
    await using gateway = startClientGateway(held, resumeConfig());
    await using client = await GatewayClient.connect(wsUrl(gateway), FAST);
    try {
      const answer = client.request("test.held", "lost").catch((error) => error);
      await waitFor(() => held.waiting === 1, 2_000, "the request to reach the route");
      const resumed = next<ResumedEvent>(client, "resumed");
      closeFromGateway(gateway, DisconnectHeartbeatTimeout);
      await within(resumed, 3_000, "the resume");
      const error = await within(answer, 3_000, "the request to settle");
      assert.equal((error as GatewayError).code, ClientErrorCode.connectionLost);
      assert.equal(await client.request("echo", 1), 1);
    } finally {
      held.releaseAll();
    }
  },
});

Deno.test({
  name: "GatewayClient reconnects at once after 4004 and resumes",
  async fn() {
    await using gateway = startClientGateway(undefined, resumeConfig());
    await using client = await GatewayClient.connect(wsUrl(gateway), {
      ...FAST,
      reconnect: { initialDelayMs: 5_000 },
    });
    const session = client.session;
    const reconnecting = next<ReconnectingEvent>(client, "reconnecting");
    const resumed = next<ResumedEvent>(client, "resumed");
    closeFromGateway(gateway, DisconnectResumeElsewhere);
    const event = await within(reconnecting, 2_000, "reconnecting");
    assert.equal(event.code, 4004);
    assert.equal(event.delayMs, 0);
    assert.equal((await within(resumed, 2_000, "the resume")).session, session);
  },
});

Deno.test({
  name: "GatewayClient starts a fresh session when resume fails and says so with open",
  async fn() {
    await using gateway = startClientGateway(undefined, resumeConfig(1));
    // The delay is jittered down to half: 1.5–3 s, past the 1 s window even with the expiry
    // wheel's 250 ms ticks and a busy machine (at 2 s it could be 1 s, and the resume worked).
    await using client = await GatewayClient.connect(wsUrl(gateway), {
      ...FAST,
      reconnect: { initialDelayMs: 3_000, maxDelayMs: 3_000 },
    });
    const session = client.session;
    const opened = next<OpenEvent>(client, "open");
    closeFromGateway(gateway, DisconnectHeartbeatTimeout);
    const event = await within(opened, 8_000, "the fresh session");
    assert.equal(event.reconnected, true);
    assert.notEqual(event.session, session);
    assert.equal(onlySession(gateway).id, client.session);
  },
});
