/**
 * Resume across gateway nodes on a real nats-server: a session dropped on one node resumes on
 * the other with every chat message exactly once; a node that is gone cannot hand over; and a
 * drain moves every player to the other node under chat traffic without a lost or repeated
 * message.
 */
import assert from "node:assert/strict";
import { type RunningGateway, startGateway } from "../../src/app.ts";
import { type GatewayConfigInput, parseConfig } from "../../src/config/config.ts";
import { Logger } from "../../src/core/logger.ts";
import { GatewayClient, type ResumedEvent } from "../../src/client/mod.ts";
import { TEST_REGISTRY } from "../_cluster.ts";
import { startServiceProcess } from "../_cluster.ts";
import { sleep, waitFor, within } from "../_helpers.ts";
import { NatsServer } from "../_nats_server.ts";
import { Player } from "../_player.ts";
import { ResumeClient } from "../_resume_client.ts";
import { TcpBalancer } from "../_tcp_balancer.ts";

/** A cluster node named `id` on `nats`; chat embedded unless a service process serves it. */
function node(nats: string, id: string, overrides: GatewayConfigInput = {}): RunningGateway {
  return startGateway(
    parseConfig({
      ...overrides,
      websocket: { host: "127.0.0.1", port: 0 },
      metrics: { host: "127.0.0.1", port: 0 },
      routing: { request_timeout_ms: 2_000, ...overrides.routing },
      // The chatter bots say a line every half millisecond, far past the default rate limit
      // (tests/protection/flood_test.ts is where that limit is tested).
      limits: { messages_per_sec: 0, ...overrides.limits },
      cluster: {
        node_id: id,
        nats: { servers: [nats], reconnect_wait_ms: 100 },
        registry: TEST_REGISTRY,
      },
    }),
    { logger: new Logger("error", () => {}) },
  );
}

async function bothReady(a: RunningGateway, b: RunningGateway): Promise<void> {
  await waitFor(
    () => a.registry!.isAlive("b") && b.registry!.isAlive("a"),
    5_000,
    "each node to see the other",
  );
}

/**
 * Says `${prefix}1`, `${prefix}2`, ... as fast as the node answers, two requests a millisecond
 * without waiting for answers, until stopped; resolves with how many it said once all are
 * answered. Fast enough that pushes are in flight during every step of a takeover.
 */
function chatter(talker: Player, prefix: string): () => Promise<number> {
  let stopped = false;
  let said = 0;
  const done = (async () => {
    while (!stopped) {
      for (let i = 0; i < 2; i++) {
        said++;
        talker.socket.send(JSON.stringify({
          type: "request",
          id: 1_000_000 + said,
          route: "chat.say",
          data: `${prefix}${said}`,
        }));
      }
      await sleep(1);
    }
    const answered = () => talker.inbox.filter((m) => m.type === "response").length;
    await waitFor(() => answered() >= said, 5_000, `answers to ${prefix}'s ${said} lines`);
    return said;
  })();
  return () => {
    stopped = true;
    return done;
  };
}

Deno.test("cluster: a session dropped on node A resumes on node B with every chat message once, in order", async () => {
  await using nats = new NatsServer();
  await nats.start();
  const buffer = { session: { resume_buffer_messages: 8_192 } };
  const a = node(nats.url, "a", buffer);
  const b = node(nats.url, "b", buffer);
  const stops: (() => Promise<number>)[] = [];
  const players: Player[] = [];
  try {
    await bothReady(a, b);
    const onA = await Player.connect(a);
    const onB = await Player.connect(b);
    players.push(onA, onB);
    const first = await ResumeClient.websocket(a.websocketAddr!.port);
    const { resume_token: token, session } = (await first.call("hello")).data as Record<
      string,
      string
    >;
    await first.call("request", { route: "chat.join", data: "lobby" });
    await onA.request("chat.join", "lobby");
    await onB.request("chat.join", "lobby");
    stops.push(chatter(onA, "a"), chatter(onB, "b"));
    await waitFor(() => first.chat().length >= 100, 5_000, "chat before the drop");
    await first.drop();
    await waitFor(() => a.sessions.detachedCount === 1, 3_000, "the detach on A");
    await sleep(50); // chat goes on while away

    await using second = await ResumeClient.websocket(b.websocketAddr!.port);
    const resumed = await second.call("resume", { data: { token, last_seq: first.lastSeq } });
    assert.equal(resumed.type, "response", JSON.stringify(resumed));
    const answer = resumed.data as Record<string, unknown>;
    assert.equal(answer.session, session);
    assert.match(answer.resume_token as string, /^b\./, "the new token names node B");
    assert.ok((answer.replayed as number) > 0);
    assert.equal(a.sessions.get(session), undefined, "A forgot the session");
    assert.equal(b.sessions.get(session)?.state, "live");
    assert.equal(b.hub.groupSize("chat:lobby"), 2);
    assert.equal(a.hub.groupSize("chat:lobby"), 1);
    const live = second.chat().length;
    await waitFor(() => second.chat().length >= live + 100, 5_000, "live chat on B");
    const [saidA, saidB] = await Promise.all(stops.splice(0).map((stop) => stop()));
    const heard = () => [...first.chat(), ...second.chat()];
    await waitFor(
      () => heard().includes(`a${saidA}`) && heard().includes(`b${saidB}`),
      5_000,
      "the last messages",
    );
    const all = heard();
    assert.equal(new Set(all).size, all.length, "a message arrived twice");
    for (const [prefix, said] of [["a", saidA], ["b", saidB]] as const) {
      assert.deepEqual(
        all.filter((text) => text.startsWith(prefix)),
        Array.from({ length: said }, (_, i) => `${prefix}${i + 1}`),
        `node ${prefix}'s chat, once each and in order`,
      );
    }
    const seqs = [...first.received, ...second.received].flatMap((m) =>
      typeof m.seq === "number" ? [m.seq] : []
    );
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1));
    assert.equal(b.metrics.resumes.ok, 1);
    assert.equal(a.metrics.disconnects.get("resumed"), 1);
  } finally {
    await Promise.all(stops.map((stop) => stop().catch(() => 0)));
    for (const player of players) await player.close();
    await a.shutdown(1_000);
    await b.shutdown(1_000);
  }
});

Deno.test("cluster: a resume naming a node that is gone fails with node_unreachable", async () => {
  await using nats = new NatsServer();
  await nats.start();
  const a = node(nats.url, "a");
  const b = node(nats.url, "b");
  try {
    await bothReady(a, b);
    const first = await ResumeClient.websocket(a.websocketAddr!.port);
    const { resume_token: token } = (await first.call("hello")).data as Record<string, string>;
    await a.shutdown(0);
    await within(first.closed, 3_000, "the close from A");
    await waitFor(() => !b.registry!.isAlive("a"), 3_000, "B to see A gone");
    await using second = await ResumeClient.websocket(b.websocketAddr!.port);
    const failed = await second.call("resume", { data: { token, last_seq: first.lastSeq } });
    assert.deepEqual([failed.code, failed.reason], ["resume_failed", "node_unreachable"]);
    assert.equal(b.metrics.resumes.node_unreachable, 1);
  } finally {
    await a.shutdown(0);
    await b.shutdown(1_000);
  }
});

Deno.test({
  name:
    "cluster: draining node A under chat traffic moves every player to node B, each chat message delivered once",
  async fn() {
    await using nats = new NatsServer();
    await nats.start();
    const service = await startServiceProcess(nats.url);
    const drain = {
      routing: { embedded_services: false },
      shutdown: { prestop_sec: 0.3, close_batch: 2, close_interval_ms: 100 },
    };
    const a = node(nats.url, "a", drain);
    const b = node(nats.url, "b", drain);
    let toA = true;
    const balancer = new TcpBalancer(() =>
      toA && a.accepting ? a.websocketAddr!.port : b.websocketAddr!.port
    );
    const clients: GatewayClient[] = [];
    let bot: Player | undefined;
    let stopBot: (() => Promise<number>) | undefined;
    try {
      await bothReady(a, b);
      await waitFor(() => a.registry!.route("chat.say") !== undefined, 5_000, "the chat service");
      const url = `ws://127.0.0.1:${balancer.port}/ws`;
      const names = ["p1", "p2", "p3", "p4", "p5", "p6", "q1", "q2"];
      const heard = new Map<string, string[]>();
      const resumes = new Map<string, ResumedEvent[]>();
      for (const name of names) {
        toA = name.startsWith("p");
        const client = await GatewayClient.connect(url, {
          transport: "websocket",
          reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
          requestTimeoutMs: 5_000,
        });
        clients.push(client);
        heard.set(name, []);
        resumes.set(name, []);
        client.on<{ text: string }>("chat.message", (m) => heard.get(name)!.push(m.text));
        client.onEvent("resumed", (event) => resumes.get(name)!.push(event));
        await client.request("chat.join", { room: "lobby", name });
      }
      assert.equal(a.sessions.size, 6);
      assert.equal(b.sessions.size, 2);
      const sessions = clients.map((client) => client.session);
      // A bot on B chats fast, so pushes are in flight through every takeover.
      bot = await Player.connect(b);
      await bot.request("chat.join", { room: "lobby", name: "bot" });
      stopBot = chatter(bot, "bot:");

      // Everyone says 25 lines, one every 40 ms; node A starts draining early on, and its
      // sessions are told to go (two every 100 ms) while everyone talks.
      const said: string[] = [];
      const talk = Promise.all(clients.map(async (client, i) => {
        for (let n = 1; n <= 25; n++) {
          const text = `${names[i]}:${n}`;
          const answer = await client.request("chat.say", text).catch(() => undefined);
          if (answer !== undefined) said.push(text);
          await sleep(40);
        }
      }));
      await sleep(160);
      const stopping = a.shutdown(10_000);
      const probe = (path: string) =>
        fetch(`http://127.0.0.1:${a.metricsAddr!.port}${path}`).then(async (r) => {
          await r.body?.cancel();
          return r.status;
        });
      assert.deepEqual([await probe("/readyz"), await probe("/livez")], [503, 200]);
      await talk;
      await within(stopping, 10_000, "node A's drain");
      const botLines = await stopBot();
      stopBot = undefined;
      for (let n = 1; n <= botLines; n++) said.push(`bot:${n}`);

      for (const name of names) {
        await waitFor(
          () => said.every((text) => heard.get(name)!.includes(text)),
          5_000,
          `${name} to hear every line`,
        );
        const lines = heard.get(name)!;
        assert.equal(new Set(lines).size, lines.length, `${name} heard a line twice`);
        for (const speaker of [...names, "bot"]) {
          const order = lines.filter((t) => t.startsWith(`${speaker}:`)).map((t) =>
            Number(t.split(":")[1])
          );
          assert.deepEqual(order, [...order].sort((x, y) => x - y), `${speaker}'s lines in order`);
        }
      }
      assert.ok(said.length >= names.length * 24, `only ${said.length} lines were answered`);
      assert.deepEqual(clients.map((client) => client.session), sessions, "same sessions");
      for (const name of names.filter((n) => n.startsWith("p"))) {
        assert.equal(resumes.get(name)!.length, 1, `${name} resumed once`);
      }
      assert.equal(b.sessions.size, 9);
      assert.equal(b.metrics.resumes.ok, 6);
      assert.equal(a.metrics.disconnects.get("resumed"), 6);
    } finally {
      await stopBot?.().catch(() => 0);
      await bot?.close();
      await Promise.all(clients.map((client) => client.close()));
      await balancer[Symbol.asyncDispose]();
      await a.shutdown(0);
      await b.shutdown(1_000);
      service.kill("SIGKILL");
      await service.status;
    }
  },
});
