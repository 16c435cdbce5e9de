import assert from "node:assert/strict";
import { type RunningGateway, startGateway } from "../../src/app.ts";
import { serveServices } from "../../src/cluster/service_process.ts";
import { parseConfig } from "../../src/config/config.ts";
import { Logger } from "../../src/core/logger.ts";
import { defineService } from "../../src/core/service.ts";
import { NatsServer } from "../_nats_server.ts";
import { recordingLogger, waitFor, within } from "../_helpers.ts";
import { hmacAuth, hmacToken } from "../_tokens.ts";

function node(nats: string, auth: Record<string, unknown>, logger?: Logger): RunningGateway {
  return startGateway(
    parseConfig({
      websocket: { host: "127.0.0.1", port: 0 },
      metrics: { enabled: false },
      routing: { embedded_services: false, request_timeout_ms: 2_000 },
      cluster: { nats: { servers: [nats], reconnect_wait_ms: 100 } },
      auth,
    }),
    { logger: logger ?? new Logger("error", () => {}) },
  );
}

/** A WebSocket player that logs in and remembers how its connection ended. */
class Client {
  readonly replies: Record<string, unknown>[] = [];
  close: { code: number; reason: string } | undefined;
  readonly closed: Promise<void>;
  private constructor(readonly socket: WebSocket) {
    socket.onmessage = (event) => this.replies.push(JSON.parse(event.data));
    this.closed = new Promise((resolve) => {
      socket.onclose = (event) => {
        this.close = { code: event.code, reason: event.reason };
        resolve();
      };
    });
  }
  static async connect(gateway: RunningGateway): Promise<Client> {
    const socket = new WebSocket(`ws://127.0.0.1:${gateway.websocketAddr!.port}/ws`);
    await within(new Promise((resolve) => socket.onopen = resolve), 3_000, "open");
    return new Client(socket);
  }
  send(envelope: unknown): void {
    this.socket.send(JSON.stringify(envelope));
  }
  async reply(id: number): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await waitFor(() => !!(found = this.replies.find((m) => m.id === id)), 5_000, `reply ${id}`);
    return found!;
  }
  async login(user: string): Promise<Record<string, unknown>> {
    this.send({ type: "auth", id: 1, data: { token: await hmacToken({ sub: user }) } });
    return await this.reply(1);
  }
  async end(): Promise<void> {
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.close();
    await this.closed;
  }
}

function sessionsOf(nodes: RunningGateway[], user: string): number {
  let count = 0;
  for (const gateway of nodes) {
    for (const session of gateway.sessions.values()) if (session.userId === user) count++;
  }
  return count;
}

async function connected(nodes: RunningGateway[]): Promise<void> {
  await waitFor(
    () => nodes.every((n) => n.health().cluster?.nats === "connected"),
    5_000,
    "every node on NATS",
  );
}

/**
 * Logs one user in on both nodes in the same turn, `rounds` times, and checks that every round
 * ends with exactly one session of that user, the other closed with `loserCode`.
 */
async function raceLogins(
  a: RunningGateway,
  b: RunningGateway,
  rounds: number,
  loserCode: number,
): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const user = `racer-${round}`;
    const clients = [await Client.connect(a), await Client.connect(b)];
    const tokens = await Promise.all(clients.map(() => hmacToken({ sub: user })));
    clients.forEach((client, i) =>
      client.send({ type: "auth", id: 1, data: { token: tokens[i] } })
    );
    await Promise.all(clients.map((client) => client.reply(1)));
    await waitFor(
      () => sessionsOf([a, b], user) === 1 && clients.some((c) => c.close !== undefined),
      5_000,
      `round ${round} to settle on one session`,
    );
    // Settled for good: nothing else closes.
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(sessionsOf([a, b], user), 1, `round ${round}: sessions of ${user}`);
    const losers = clients.filter((c) => c.close !== undefined);
    assert.equal(losers.length, 1, `round ${round}: exactly one loser`);
    assert.equal(losers[0].close!.code, loserCode, `round ${round}: ${losers[0].close!.reason}`);
    const winner = clients.find((c) => c.close === undefined)!;
    assert.equal(winner.replies[0].type, "response", `round ${round}: the winner was accepted`);
    for (const client of clients) await client.end();
  }
}

Deno.test("kick_old across two nodes: a login on one closes the older session on the other, and simultaneous logins end with one", async () => {
  await using nats = new NatsServer();
  await nats.start();
  const a = node(nats.url, hmacAuth({ duplicate_login: "kick_old" }));
  const b = node(nats.url, hmacAuth({ duplicate_login: "kick_old" }));
  try {
    await connected([a, b]);
    const first = await Client.connect(a);
    assert.equal((await first.login("ann")).type, "response");
    const second = await Client.connect(b);
    assert.equal((await second.login("ann")).type, "response");
    await within(first.closed, 3_000, "the kick on node A");
    assert.deepEqual(first.close, { code: 4502, reason: "logged in elsewhere" });
    assert.equal(second.close, undefined);
    assert.equal(a.metrics.auth.duplicate_kicked, 1);
    await second.end();

    await raceLogins(a, b, 6, 4502);
  } finally {
    await a.shutdown();
    await b.shutdown();
  }
});

Deno.test("reject_new across two nodes: a second login elsewhere is refused, and simultaneous logins end with one", async () => {
  await using nats = new NatsServer();
  await nats.start();
  const auth = hmacAuth({ duplicate_login: "reject_new", duplicate_wait_ms: 50 });
  const a = node(nats.url, auth);
  const b = node(nats.url, auth);
  try {
    await connected([a, b]);
    const first = await Client.connect(a);
    assert.equal((await first.login("ann")).type, "response");
    const second = await Client.connect(b);
    const refused = await second.login("ann");
    assert.deepEqual([refused.type, refused.code], ["error", "already_logged_in"]);
    await within(second.closed, 3_000, "the refusal on node B");
    assert.deepEqual(second.close, { code: 4503, reason: "already logged in" });
    assert.equal(first.close, undefined);
    // Once the first session is gone, the user may log in anywhere.
    await first.end();
    await waitFor(() => sessionsOf([a], "ann") === 0, 3_000, "the session to close");
    const third = await Client.connect(b);
    assert.equal((await third.login("ann")).type, "response");
    await third.end();

    await raceLogins(a, b, 6, 4503);
  } finally {
    await a.shutdown();
    await b.shutdown();
  }
});

Deno.test("while NATS is down logins are checked per node, and duplicates settle once it is back", async () => {
  for (const policy of ["kick_old", "reject_new"] as const) {
    await using nats = new NatsServer();
    await nats.start();
    const { logger, lines } = recordingLogger();
    const a = node(nats.url, hmacAuth({ duplicate_login: policy }), logger);
    const b = node(nats.url, hmacAuth({ duplicate_login: policy }));
    try {
      await connected([a, b]);
      await nats.kill();
      await waitFor(
        () => [a, b].every((n) => n.health().cluster?.nats === "down"),
        5_000,
        "both nodes to notice",
      );
      const older = await Client.connect(a);
      assert.equal((await older.login("ann")).type, "response");
      const newer = await Client.connect(b);
      assert.equal((await newer.login("ann")).type, "response");
      assert.equal(sessionsOf([a, b], "ann"), 2, "no NATS: each node checks its own sessions");
      assert.ok(
        lines.some((line) => String(line.msg).startsWith("NATS is down; duplicate logins")),
        "the outage is logged",
      );
      await nats.start();
      // Both nodes announce their logins again; every node picks the same winner.
      const [loser, code] = policy === "kick_old" ? [older, 4502] : [newer, 4503];
      await within(loser.closed, 10_000, `${policy}: the loser to close after NATS is back`);
      assert.equal(loser.close?.code, code);
      assert.equal(sessionsOf([a, b], "ann"), 1);
      await older.end();
      await newer.end();
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  }
});

Deno.test("service processes get the caller's claims and cannot rebind a verified player", async () => {
  await using nats = new NatsServer();
  await nats.start();
  const who = defineService({
    name: "who",
    routes: {
      ami: (_data, ctx) => ({ user: ctx.userId, role: ctx.claims?.role }),
      rebind: (_data, ctx) => ctx.setUser("mallory"),
    },
  });
  await using _services = await serveServices({
    services: [who],
    servers: [nats.url],
    logger: new Logger("error", () => {}),
  });
  const gateway = node(nats.url, hmacAuth());
  try {
    await connected([gateway]);
    const client = await Client.connect(gateway);
    client.send({
      type: "auth",
      id: 1,
      data: { token: await hmacToken({ sub: "ann", claims: { role: "mage" } }) },
    });
    assert.equal((await client.reply(1)).type, "response");
    client.send({ type: "request", id: 2, route: "who.ami" });
    assert.deepEqual((await client.reply(2)).data, { user: "ann", role: "mage" });
    client.send({ type: "request", id: 3, route: "who.rebind" });
    assert.equal((await client.reply(3)).code, "internal_error");
    assert.equal([...gateway.sessions.values()][0].userId, "ann");
    await client.end();
  } finally {
    await gateway.shutdown();
  }
});
