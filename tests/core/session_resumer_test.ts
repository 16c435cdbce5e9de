/**
 * Session resume end to end on one gateway, with real WebSocket and QUIC clients that lose
 * their connection abruptly: exactly the missed messages in order, on either transport and
 * across them; the window, the buffer bound, single-use tokens, the rules per close, auth.
 */
import assert from "node:assert/strict";
import { createDefaultRouter, type RunningGateway, startGateway } from "../../src/app.ts";
import { type GatewayConfigInput, parseConfig } from "../../src/config/config.ts";
import { DisconnectShutdown } from "../../src/core/disconnect.ts";
import { Logger } from "../../src/core/logger.ts";
import type { TransportKind } from "../../src/core/transport.ts";
import { sample, scrape, sleep, waitFor, within } from "../_helpers.ts";
import { Player } from "../_player.ts";
import { quicPort, quicTestConfig } from "../_quic_harness.ts";
import { type Envelope, ResumeClient, UdpRelay } from "../_resume_client.ts";
import { hmacAuth, hmacToken } from "../_tokens.ts";

/** Answers `test.held` requests only when released, so one can be in flight at will. */
const held: (() => void)[] = [];

/** A gateway on WebSocket and QUIC (1 s idle timeout, so a silent client drops fast). */
function start(overrides: GatewayConfigInput = {}): RunningGateway {
  const router = createDefaultRouter().register(
    "test.held",
    (data) => new Promise((resolve) => held.push(() => resolve(data))),
  );
  return startGateway(
    parseConfig({
      ...overrides,
      websocket: { host: "127.0.0.1", port: 0 },
      quic: quicTestConfig("native", { idle_timeout_ms: 1_000, keep_alive_interval_ms: 300 }),
      metrics: { host: "127.0.0.1", port: 0 },
    }),
    { logger: new Logger("error", () => {}), router },
  );
}

/** Runs `fn` with a started gateway and a way to connect resume clients; cleans up after. */
async function withGateway(
  overrides: GatewayConfigInput,
  fn: (
    gateway: RunningGateway,
    connect: (kind: TransportKind) => Promise<ResumeClient>,
  ) => Promise<void>,
): Promise<void> {
  const gateway = start(overrides);
  const relays: UdpRelay[] = [];
  try {
    await gateway.ready;
    const connect = async (kind: TransportKind) => {
      if (kind === "websocket") return await ResumeClient.websocket(gateway.websocketAddr!.port);
      const relay = new UdpRelay(await quicPort(gateway));
      relays.push(relay);
      return await ResumeClient.quic(relay);
    };
    await fn(gateway, connect);
  } finally {
    await gateway.shutdown(2_000);
    for (const relay of relays) await relay[Symbol.asyncDispose]();
  }
}

function dataOf(envelope: Envelope): Record<string, unknown> {
  return envelope.data as Record<string, unknown>;
}

/** The `seq` of every sequenced envelope received, in order. */
function seqs(...clients: ResumeClient[]): number[] {
  return clients.flatMap((c) =>
    c.received.flatMap((m) => typeof m.seq === "number" ? [m.seq] : [])
  );
}

/** 1..n */
function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** Says m1, m2, ... into the room until stopped; resolves with how many were said. */
function chatter(talker: Player): { stop(): Promise<number> } {
  let stopped = false;
  const done = (async () => {
    let n = 0;
    while (!stopped) {
      await talker.request("chat.say", `m${++n}`);
      await sleep(5);
    }
    return n;
  })();
  return {
    stop: () => {
      stopped = true;
      return done;
    },
  };
}

/**
 * Runs `fn` with a resumable WebSocket client (`first`, with its resume `token`) and a
 * `talker`, both in the chat room `lobby`; closes the talker after.
 */
async function inLobby(
  gateway: RunningGateway,
  connect: (kind: TransportKind) => Promise<ResumeClient>,
  fn: (first: ResumeClient, token: unknown, talker: Player) => Promise<void>,
): Promise<void> {
  const talker = await Player.connect(gateway);
  try {
    const first = await connect("websocket");
    const { resume_token: token } = dataOf(await first.call("hello"));
    await first.call("request", { route: "chat.join", data: "lobby" });
    await talker.request("chat.join", "lobby");
    await fn(first, token, talker);
  } finally {
    await talker.close();
  }
}

const PAIRS: [TransportKind, TransportKind][] = [
  ["websocket", "websocket"],
  ["quic", "quic"],
  ["websocket", "quic"],
  ["quic", "websocket"],
];

for (const [from, to] of PAIRS) {
  Deno.test(`a session dropped abruptly on ${from} mid-chat resumes on ${to} with exactly the missed messages, in order`, async () => {
    await withGateway({}, async (gateway, connect) => {
      const talker = await Player.connect(gateway);
      let chat: ReturnType<typeof chatter> | undefined;
      try {
        await using first = await connect(from);
        const hello = await first.call("hello");
        const { session, resume_token: token, seq } = dataOf(hello);
        assert.equal(hello.seq, undefined, "the hello answer belongs to the connection");
        assert.equal(seq, 0);
        await first.call("request", { route: "chat.join", data: { room: "lobby", name: "p" } });
        await talker.request("chat.join", { room: "lobby", name: "t" });
        chat = chatter(talker);
        await waitFor(() => first.chat().length >= 10, 5_000, "chat before the drop");
        await first.drop();
        await waitFor(() => gateway.sessions.detachedCount === 1, 5_000, "the session to detach");
        assert.equal(
          gateway.sessions.count(from),
          from === "websocket" ? 1 : 0,
          "a detached session is no connection (the talker is one)",
        );
        const before = first.chat().length;
        await waitFor(
          () => talker.pushes("chat.message").length >= before + 15,
          5_000,
          "more chat",
        );

        await using second = await connect(to);
        const resumed = await second.call("resume", {
          data: { token, last_seq: first.lastSeq },
        });
        assert.equal(resumed.type, "response", JSON.stringify(resumed));
        const answer = dataOf(resumed);
        assert.equal(answer.session, session);
        assert.equal(typeof answer.resume_token, "string");
        assert.notEqual(answer.resume_token, token);
        assert.ok((answer.replayed as number) >= 15, `replayed ${answer.replayed}`);
        const live = second.chat().length;
        await waitFor(() => second.chat().length >= live + 10, 5_000, "live chat after resume");
        const said = await chat.stop();
        await waitFor(
          () => second.chat().at(-1) === `m${said}`,
          5_000,
          "the last chat message",
        );
        assert.deepEqual(
          [...first.chat(), ...second.chat()],
          range(said).map((i) => `m${i}`),
        );
        const all = seqs(first, second);
        assert.deepEqual(all, range(all.length), "seq runs 1, 2, 3, ... across the drop");
        // The replay came right after the answer, before anything live.
        const at = second.received.indexOf(resumed);
        const replay = second.received.slice(at + 1, at + 1 + (answer.replayed as number));
        assert.deepEqual(
          replay.map((m) => m.seq),
          range(answer.replayed as number).map((i) => first.lastSeq + i),
        );
        assert.equal(gateway.sessions.get(session as string)?.kind, to);
        assert.equal(gateway.sessions.detachedCount, 0);
        assert.equal(gateway.metrics.resumes.ok, 1);
        assert.equal(gateway.metrics.replayedMessages, answer.replayed);
        const text = await scrape(gateway);
        assert.equal(sample(text, 'gateway_resumes_total{result="ok"}'), 1);
        assert.equal(sample(text, "gateway_replayed_messages_total"), answer.replayed);
        assert.equal(sample(text, "gateway_sessions_detached"), 0);
      } finally {
        await chat?.stop().catch(() => {});
        await talker.close();
      }
    });
  });
}

Deno.test("a detached session ends when the resume window passes; a late resume fails with unknown_session", async () => {
  await withGateway({ session: { resume_window_sec: 1 } }, async (gateway, connect) => {
    const first = await connect("websocket");
    const { resume_token: token } = dataOf(await first.call("hello"));
    await first.call("request", { route: "chat.join", data: "lobby" });
    await first.drop();
    await waitFor(() => gateway.sessions.detachedCount === 1, 3_000, "the detach");
    assert.equal(gateway.hub.groupSize("chat:lobby"), 1, "a detached session keeps its groups");
    assert.equal(sample(await scrape(gateway), "gateway_sessions_detached"), 1);
    await waitFor(() => gateway.sessions.size === 0, 3_000, "the window to pass");
    assert.equal(gateway.hub.groupSize("chat:lobby"), 0);
    assert.equal(gateway.metrics.disconnects.get("resume_expired"), 1);
    await using late = await connect("websocket");
    const failed = await late.call("resume", { data: { token, last_seq: first.lastSeq } });
    assert.deepEqual(
      [failed.type, failed.code, failed.reason],
      ["error", "resume_failed", "unknown_session"],
    );
    assert.equal(gateway.metrics.resumes.unknown_session, 1);
    // A failed resume leaves a fresh session that works.
    assert.equal((await late.call("request", { route: "echo", data: 1 })).data, 1);
  });
});

Deno.test("a detached session sent more than its buffer holds ends at once; nothing is dropped silently", async () => {
  await withGateway({ session: { resume_buffer_messages: 16 } }, async (gateway, connect) => {
    await inLobby(gateway, connect, async (first, token, talker) => {
      await first.drop();
      await waitFor(() => gateway.sessions.detachedCount === 1, 3_000, "the detach");
      for (let i = 1; i <= 16; i++) await talker.request("chat.say", `m${i}`);
      assert.equal(gateway.sessions.detachedCount, 1, "16 messages fit");
      await talker.request("chat.say", "m17");
      assert.equal(gateway.sessions.size, 1, "the 17th ends the session");
      assert.equal(gateway.metrics.disconnects.get("resume_overflow"), 1);
      await using late = await connect("websocket");
      const failed = await late.call("resume", { data: { token, last_seq: first.lastSeq } });
      assert.equal(failed.reason, "unknown_session");
    });
  });
});

Deno.test("resume tokens are single use, and a failed resume leaves the connection free to try again", async () => {
  await withGateway({}, async (gateway, connect) => {
    const first = await connect("websocket");
    const { resume_token: used, session } = dataOf(await first.call("hello"));
    await first.drop();
    const second = await connect("websocket");
    const ok = await second.call("resume", { data: { token: used, last_seq: 0 } });
    const fresh = dataOf(ok).resume_token;
    await second.drop();
    await waitFor(() => gateway.sessions.detachedCount === 1, 3_000, "the second detach");
    await using third = await connect("websocket");
    const reused = await third.call("resume", { data: { token: used, last_seq: 0 } });
    assert.deepEqual([reused.code, reused.reason], ["resume_failed", "bad_token"]);
    const again = await third.call("resume", { data: { token: fresh, last_seq: 0 } });
    assert.equal(dataOf(again).session, session);
    assert.equal(gateway.metrics.resumes.ok, 2);
    assert.equal(gateway.metrics.resumes.bad_token, 1);
  });
});

Deno.test("resume answers malformed, not_first, bad_token and out_of_range with resume_failed", async () => {
  await withGateway({ session: { resume_buffer_messages: 16 } }, async (gateway, connect) => {
    await inLobby(gateway, connect, async (first, token, talker) => {
      for (let i = 1; i <= 30; i++) await talker.request("chat.say", `m${i}`);
      await waitFor(() => first.chat().length === 30, 3_000, "the chat");
      await first.drop();
      await using second = await connect("websocket");
      const reasons = [];
      for (
        const data of [
          { token },
          { token, last_seq: -1 },
          { token: "not.a.token", last_seq: 0 },
          { token: `local.${crypto.randomUUID()}.AAAAAAAAAAAAAAAAAAAAAA`, last_seq: 0 },
          { token, last_seq: 0 },
          { token, last_seq: first.lastSeq + 1 },
        ]
      ) {
        const failed = await second.call("resume", { data });
        assert.equal(failed.code, "resume_failed");
        reasons.push(failed.reason);
      }
      assert.deepEqual(reasons, [
        "malformed",
        "malformed",
        "bad_token",
        "unknown_session",
        "out_of_range",
        "out_of_range",
      ]);
      const ok = await second.call("resume", { data: { token, last_seq: first.lastSeq } });
      assert.equal(dataOf(ok).replayed, 0);
      await using third = await connect("websocket");
      await third.call("hello");
      const notFirst = await third.call("resume", { data: { token, last_seq: 0 } });
      assert.equal(notFirst.reason, "not_first");
    });
  });
});

Deno.test("a reply to a request in flight at the drop reaches the resumed connection, numbered", async () => {
  await withGateway({}, async (_gateway, connect) => {
    const first = await connect("websocket");
    const { resume_token: token } = dataOf(await first.call("hello"));
    try {
      await first.send({ type: "request", id: 7, route: "test.held", data: "late" });
      await waitFor(() => held.length === 1, 3_000, "the request to reach the route");
      await first.drop();
      await using second = await connect("quic");
      const ok = await second.call("resume", { data: { token, last_seq: first.lastSeq } });
      assert.equal(dataOf(ok).replayed, 0);
      held.splice(0).forEach((release) => release());
      await waitFor(() => second.received.some((m) => m.id === 7), 3_000, "the late reply");
      assert.deepEqual(second.received.find((m) => m.id === 7), {
        seq: 1,
        type: "response",
        id: 7,
        data: "late",
      });
    } finally {
      held.splice(0).forEach((release) => release());
    }
  });
});

Deno.test("a resume while the old connection is still open closes it with 4506 and keeps the session", async () => {
  await withGateway({}, async (gateway, connect) => {
    await using first = await connect("websocket");
    const { resume_token: token, session } = dataOf(await first.call("hello"));
    await using second = await connect("websocket");
    const ok = await second.call("resume", { data: { token, last_seq: 0 } });
    assert.equal(dataOf(ok).session, session);
    assert.deepEqual(await within(first.closed, 3_000, "the old connection's close"), {
      code: 4506,
    });
    assert.equal(gateway.sessions.size, 1);
    assert.equal(gateway.sessions.get(session as string)?.state, "live");
  });
});

Deno.test("only a goodbye (1000) ends a resumable session; other closes detach it", async () => {
  await withGateway({}, async (gateway) => {
    const url = `ws://127.0.0.1:${gateway.websocketAddr!.port}/ws`;
    for (const [code, detached] of [[1000, 0], [4000, 1], [3001, 1]] as const) {
      const socket = new WebSocket(url);
      await within(new Promise((resolve) => socket.onopen = resolve), 3_000, "open");
      const answered = new Promise((resolve) => socket.onmessage = resolve);
      socket.send('{"type":"hello","id":1}');
      await within(answered, 3_000, "hello");
      const closed = new Promise((resolve) => socket.onclose = resolve);
      socket.close(code);
      await within(closed, 3_000, "close");
      await waitFor(
        () => gateway.sessions.count("websocket") === 0,
        3_000,
        "the connection to go",
      );
      assert.equal(gateway.sessions.detachedCount, detached, `close ${code}`);
      gateway.sessions.endAll(DisconnectShutdown);
    }
  });
});

Deno.test("with resume_window_sec 0 hello and resume are unknown types and nothing carries seq", async () => {
  await withGateway({ session: { resume_window_sec: 0 } }, async (gateway, connect) => {
    const client = await connect("websocket");
    assert.equal((await client.call("hello")).code, "unknown_type");
    assert.equal(
      (await client.call("resume", { data: { token: "x", last_seq: 0 } })).code,
      "unknown_type",
    );
    const echoed = await client.call("request", { route: "echo", data: 1 });
    assert.equal(echoed.seq, undefined);
    await client.drop();
    await waitFor(() => gateway.sessions.size === 0, 3_000, "the session to end");
  });
});

Deno.test("with auth, the auth answer carries the resume token and a resumed session is its user's, without another login", async () => {
  await withGateway({ auth: hmacAuth() }, async (gateway, connect) => {
    const first = await connect("websocket");
    const authed = await first.call("auth", { data: { token: await hmacToken({ sub: "ann" }) } });
    const { resume_token: token, session } = dataOf(authed);
    assert.equal(typeof token, "string");
    assert.equal(authed.seq, undefined, "the auth answer belongs to the connection");
    const echoed = await first.call("request", { route: "echo", data: 1 });
    assert.equal(echoed.seq, 1);
    await first.drop();
    await using second = await connect("quic");
    const ok = await second.call("resume", { data: { token, last_seq: first.lastSeq } });
    assert.equal(dataOf(ok).session, session);
    const again = await second.call("request", { route: "echo", data: 2 });
    assert.deepEqual([again.type, again.seq, again.data], ["response", 2, 2]);
    const resumed = gateway.sessions.get(session as string)!;
    assert.equal(resumed.userId, "ann");
    assert.equal(resumed.authenticated, true);
    assert.equal(gateway.hub.userCount, 1);
    await sleep(300);
    assert.equal(gateway.sessions.size, 1, "the login registry took the resume for the same login");
    assert.equal(gateway.metrics.auth.duplicate_kicked, 0);
  });
});

Deno.test("a draining gateway tells resumable sessions 4004 and the others 1001", async () => {
  const gateway = start();
  try {
    const resumable = await ResumeClient.websocket(gateway.websocketAddr!.port);
    await resumable.call("hello");
    const plain = await ResumeClient.websocket(gateway.websocketAddr!.port);
    await plain.call("ping");
    const stopped = gateway.shutdown(2_000);
    assert.deepEqual(await within(resumable.closed, 3_000, "4004"), { code: 4004 });
    assert.deepEqual(await within(plain.closed, 3_000, "1001"), { code: 1001 });
    await stopped;
    assert.equal(gateway.sessions.size, 0);
  } finally {
    await gateway.shutdown(0);
  }
});
