/**
 * Authentication behaviour for every transport: each transport test file calls
 * `runAuthTests` with its harness, so WebSocket and QUIC answer tokens the same way.
 */
import assert from "node:assert/strict";
import { type RunningGateway, startGateway } from "../src/app.ts";
import { parseConfig } from "../src/config/config.ts";
import { Logger } from "../src/core/logger.ts";
import { defineService } from "../src/core/service.ts";
import { echo, Router } from "../src/services/router.ts";
import { sample, scrape, within } from "./_helpers.ts";
import { hmacAuth, hmacToken, type TokenSpec, unsecuredToken } from "./_tokens.ts";
import type { TestClient, TransportHarness } from "./_transport_suite.ts";

/** A service that tells who calls it, and tries to rebind the caller. */
const whoService = defineService({
  name: "who",
  routes: {
    ami: (_data, ctx) => ({ user: ctx.userId, role: ctx.claims?.role }),
    rebind: (_data, ctx) => {
      ctx.setUser("mallory");
      return { rebound: true };
    },
  },
});

async function withAuthGateway(
  harness: TransportHarness,
  auth: Record<string, unknown>,
  fn: (gateway: RunningGateway) => Promise<void>,
): Promise<void> {
  const input = harness.config({});
  const gateway = startGateway(
    parseConfig({ ...input, metrics: { host: "127.0.0.1", port: 0 }, auth }),
    // Quiet: the tests provoke refusals on purpose.
    {
      logger: new Logger("error", () => {}),
      router: new Router().register("echo", echo).addService(whoService),
    },
  );
  try {
    await gateway.ready;
    await fn(gateway);
  } finally {
    await gateway.shutdown(2_000);
  }
}

async function send(client: TestClient, envelope: unknown): Promise<Record<string, unknown>> {
  await client.send(JSON.stringify(envelope));
  return JSON.parse(await client.next(3_000));
}

/** Sends `{"type":"auth"}` with `token` and returns the answer. */
export function auth(client: TestClient, token: string, id = 1): Promise<Record<string, unknown>> {
  return send(client, { type: "auth", id, data: { token } });
}

/** Registers the authentication tests for one transport. */
export function runAuthTests(harness: TransportHarness): void {
  const test = (name: string, fn: () => Promise<void>) =>
    Deno.test({ name: `${harness.name} auth: ${name}`, fn });

  test("nothing is routed before auth; then services see the token's user and claims", async () => {
    await withAuthGateway(harness, hmacAuth(), async (gateway) => {
      const client = await harness.connect(gateway);
      const early = await send(client, { type: "request", id: 5, route: "who.ami" });
      assert.deepEqual([early.type, early.id, early.code], ["error", 5, "unauthenticated"]);
      assert.equal((await send(client, { type: "ping", id: 6 })).type, "pong");
      const ok = await auth(client, await hmacToken({ sub: "ann", claims: { role: "mage" } }));
      assert.equal(ok.type, "response");
      assert.equal(ok.id, 1);
      const data = ok.data as Record<string, unknown>;
      assert.equal(data.user, "ann");
      assert.equal(data.session, [...gateway.sessions.values()][0].id);
      assert.equal(typeof data.exp, "number");
      const who = await send(client, { type: "request", id: 7, route: "who.ami" });
      assert.deepEqual(who.data, { user: "ann", role: "mage" });
      const rebind = await send(client, { type: "request", id: 8, route: "who.rebind" });
      assert.equal(rebind.code, "internal_error", "a service cannot rebind a verified player");
      assert.equal([...gateway.sessions.values()][0].userId, "ann");
      assert.equal(gateway.hub.userCount, 1);
      const text = await scrape(gateway);
      assert.equal(sample(text, 'gateway_auth_total{result="ok"}'), 1);
      assert.equal(sample(text, 'gateway_error_replies_total{code="unauthenticated"}'), 1);
      await client.close();
    });
  });

  test("a session that does not authenticate within timeout_ms is closed with 4501", async () => {
    await withAuthGateway(harness, hmacAuth({ timeout_ms: 300 }), async (gateway) => {
      const client = await harness.connect(gateway);
      const started = performance.now();
      assert.equal((await send(client, { type: "ping", id: 1 })).type, "pong");
      const closed = await within(client.closed, 3_000, "the auth timeout");
      const elapsed = performance.now() - started;
      assert.deepEqual(closed, { code: 4501, reason: "authentication timeout" });
      assert.ok(elapsed >= 200, `closed after ${elapsed} ms, before the 300 ms timeout`);
      assert.equal(gateway.metrics.auth.timeout, 1);
      assert.equal(gateway.metrics.disconnects.get("auth_timeout"), 1);
    });
  });

  test("every bad token gets unauthorized and a 4500 close", async () => {
    const jwt = { issuer: "login", audience: "game" };
    await withAuthGateway(harness, hmacAuth({}, jwt), async (gateway) => {
      const good: TokenSpec = { iss: "login", aud: "game" };
      const other = new TextEncoder().encode("another-secret-of-at-least-32-bytes!!");
      const cases: Array<[string, string | undefined]> = [
        ["bad signature", await hmacToken(good, other)],
        ["wrong issuer", await hmacToken({ ...good, iss: "elsewhere" })],
        ["wrong audience", await hmacToken({ ...good, aud: "other" })],
        ["algorithm off the allow-list", await hmacToken({ ...good, alg: "HS512" })],
        ["alg none", unsecuredToken()],
        ["malformed", "not.a.jwt"],
        ["no token at all", undefined],
        ["expired", await hmacToken({ ...good, expSec: -60 })],
      ];
      for (const [name, token] of cases) {
        const client = await harness.connect(gateway);
        const reply = await send(client, { type: "auth", id: 1, data: token && { token } });
        assert.deepEqual([reply.type, reply.id, reply.code], ["error", 1, "unauthorized"], name);
        assert.equal(
          reply.message,
          name === "expired" ? "The token has expired; get a new one" : "The token was refused",
        );
        const closed = await within(client.closed, 3_000, `the close after ${name}`);
        assert.deepEqual(closed, { code: 4500, reason: "unauthorized" }, name);
      }
      assert.equal(gateway.metrics.auth.bad_token, cases.length - 1);
      assert.equal(gateway.metrics.auth.expired, 1);
      assert.equal(gateway.metrics.auth.ok, 0);
      assert.equal(gateway.hub.userCount, 0);
    });
  });

  test("a refresh keeps the session past exp; without one: auth.expiring, then 4003", async () => {
    await withAuthGateway(harness, hmacAuth({ expiry_notice_sec: 1 }), async (gateway) => {
      const refresher = await harness.connect(gateway);
      const idler = await harness.connect(gateway);
      const expSec = Math.floor(Date.now() / 1000) + 2;
      const short = { expSec: expSec - Math.floor(Date.now() / 1000) };
      assert.equal(
        (await auth(refresher, await hmacToken({ ...short, sub: "ann" }))).type,
        "response",
      );
      assert.equal((await auth(idler, await hmacToken({ ...short, sub: "bob" }))).type, "response");
      let refreshed = await auth(refresher, await hmacToken({ sub: "ann", expSec: 60 }), 2);
      // Signing can take long enough on a loaded machine for the notice to come first.
      if (refreshed.route === "auth.expiring") refreshed = JSON.parse(await refresher.next(3_000));
      assert.deepEqual([refreshed.type, refreshed.id], ["response", 2]);

      const notice = JSON.parse(await idler.next(3_000));
      // With resume on (the default) an authenticated session's pushes carry their `seq`.
      assert.deepEqual(notice, {
        seq: 1,
        type: "push",
        route: "auth.expiring",
        data: { exp: expSec },
      });
      const closed = await within(idler.closed, 4_000, "the expiry close");
      assert.deepEqual(closed, { code: 4003, reason: "token expired" });
      assert.ok(Date.now() >= expSec * 1000, "closed before the token's exp");

      // Past the first token's exp, the refreshed session still works.
      const who = await send(refresher, { type: "request", id: 3, route: "who.ami" });
      assert.deepEqual(who.data, { user: "ann" });
      const other = await auth(refresher, await hmacToken({ sub: "mallory" }), 4);
      assert.deepEqual(
        [other.code, other.id],
        ["unauthorized", 4],
        "a refresh may not change user",
      );
      assert.deepEqual(await within(refresher.closed, 3_000, "the close"), {
        code: 4500,
        reason: "unauthorized",
      });
      assert.equal(gateway.metrics.disconnects.get("token_expired"), 1);
    });
  });

  test("a refresh within the leeway after exp keeps the session; an expired one ends it", async () => {
    const config = hmacAuth({ expiry_notice_sec: 1 }, { leeway_sec: 1 });
    await withAuthGateway(harness, config, async (gateway) => {
      const client = await harness.connect(gateway);
      assert.equal((await auth(client, await hmacToken({ expSec: 1 }))).type, "response");
      const expMs = [...gateway.sessions.values()][0].tokenExpiresAt - 1_000;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, expMs - Date.now()) + 300));
      // Past exp, within the leeway: the token's push came, the session is still up.
      assert.equal(JSON.parse(await client.next(1_000)).route, "auth.expiring");
      assert.equal((await auth(client, await hmacToken({ expSec: 60 }), 2)).type, "response");
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, expMs + 1_300 - Date.now())));
      assert.equal((await send(client, { type: "ping", id: 3 })).type, "pong");
      const late = await auth(client, await hmacToken({ expSec: -10 }), 4);
      assert.deepEqual([late.code, late.message], [
        "unauthorized",
        "The token has expired; get a new one",
      ]);
      assert.equal((await within(client.closed, 3_000, "the close")).code, 4500);
    });
  });

  test("one node: kick_old closes the older session, reject_new refuses the newer, allow keeps both", async () => {
    for (const policy of ["kick_old", "reject_new", "allow"] as const) {
      await withAuthGateway(harness, hmacAuth({ duplicate_login: policy }), async (gateway) => {
        const first = await harness.connect(gateway);
        const second = await harness.connect(gateway);
        assert.equal((await auth(first, await hmacToken({ sub: "ann" }))).type, "response");
        const answer = await auth(second, await hmacToken({ sub: "ann" }));
        const whoAmI = (client: TestClient, id: number) =>
          send(client, { type: "request", id, route: "who.ami" });
        if (policy === "kick_old") {
          assert.equal(answer.type, "response");
          assert.deepEqual(await within(first.closed, 3_000, "the kick"), {
            code: 4502,
            reason: "logged in elsewhere",
          });
          assert.equal(((await whoAmI(second, 2)).data as { user: string }).user, "ann");
          assert.equal(gateway.metrics.auth.duplicate_kicked, 1);
        } else if (policy === "reject_new") {
          assert.deepEqual([answer.type, answer.code, answer.id], [
            "error",
            "already_logged_in",
            1,
          ]);
          assert.deepEqual(await within(second.closed, 3_000, "the refusal"), {
            code: 4503,
            reason: "already logged in",
          });
          assert.equal(((await whoAmI(first, 2)).data as { user: string }).user, "ann");
          assert.equal(gateway.metrics.auth.duplicate_rejected, 1);
        } else {
          assert.equal(answer.type, "response");
          assert.equal(((await whoAmI(first, 2)).data as { user: string }).user, "ann");
          assert.equal(((await whoAmI(second, 2)).data as { user: string }).user, "ann");
          assert.equal(gateway.sessions.size, 2);
        }
        for (const client of [first, second]) await client.close().catch(() => {});
      });
    }
  });
}
