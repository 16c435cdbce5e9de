// The lean load driver for side-by-side figures. It runs under Bun (web-standard WebSocket),
// because a probe here showed a Deno client capping near 111k msg/s whatever the server, below
// what the fastest server can do (issue 6). One mode per run; prints one JSON line.
//
//   bun bench/driver.mjs connect    <url> <n> <concurrency>
//   bun bench/driver.mjs hold       <url> <n> <concurrency>      (prints {"ready":..} then waits for SIGTERM)
//   bun bench/driver.mjs throughput <url> <n> <seconds> <payload bytes>
//   bun bench/driver.mjs latency    <url> <n> <seconds> <payload bytes> <total msgs/s> [warm-up s]
//   bun bench/driver.mjs fanout     <url> <members> <publishers> <seconds> <offer batching 0|1>
//   bun bench/driver.mjs ping       <url> <seconds> <interval ms>   (one session's ping round trips)
//   bun bench/driver.mjs flood      <url> <payload bytes> <reconnect 0|1>   (echo requests as
//                                   fast as the socket takes them, replies read and dropped,
//                                   until SIGTERM; with 1, connects again when closed)
//
// Before a socket counts as open it logs in, when the environment says so:
//   DRIVER_TOKENS=<file>  one JWT a line: each socket sends {"type":"auth"} with the next one
//   DRIVER_HELLO=1        each socket sends {"type":"hello"} (the session becomes resumable)
// Throughput and latency report `refused`: replies that were `rate_limited` errors.

const [mode, url, ...rest] = process.argv.slice(2);
const num = (i, name) => {
  const value = Number(rest[i]);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`driver: ${name} must be a number, got "${rest[i]}"`);
    process.exit(2);
  }
  return value;
};

/** The message every server echoes: a gateway `echo` request with `bytes` of data. */
const message = (bytes) =>
  JSON.stringify({ type: "request", id: 1, route: "echo", data: "x".repeat(bytes) });

/** Subprotocols every socket offers (the fan-out figure may offer batched frames). */
let protocols = [];

const tokens = process.env.DRIVER_TOKENS
  ? (await Bun.file(process.env.DRIVER_TOKENS).text()).split("\n").filter((t) => t !== "")
  : undefined;
let tokensUsed = 0;
const hello = process.env.DRIVER_HELLO === "1";

/** The first envelope a socket sends before it counts as open, if any. */
function login() {
  if (tokens) {
    const token = tokens[tokensUsed++];
    if (token === undefined) {
      console.error(`driver: DRIVER_TOKENS holds only ${tokens.length} tokens`);
      process.exit(2);
    }
    return JSON.stringify({ type: "auth", id: 1, data: { token } });
  }
  return hello ? JSON.stringify({ type: "hello", id: 1 }) : undefined;
}

function open() {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, protocols);
    socket.onopen = () => {
      const first = login();
      if (first === undefined) return resolve(socket);
      socket.onmessage = (event) => {
        socket.onmessage = null;
        if (event.data.includes('"type":"response"')) return resolve(socket);
        console.error(`driver: login refused: ${event.data}`);
        socket.close();
        resolve(null);
      };
      socket.send(first);
    };
    socket.onerror = () => resolve(null);
  });
}

/** Whether a reply is a `rate_limited` error rather than the echo. */
const refusedReply = (text) => text.includes('"rate_limited"');

/** Opens n sockets, `concurrency` handshakes in flight at once. */
async function openMany(n, concurrency) {
  const sockets = [];
  let failed = 0;
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n) {
      next++;
      const socket = await open();
      if (socket) sockets.push(socket);
      else failed++;
    }
  }));
  return { sockets, failed };
}

function closeAll(sockets) {
  for (const socket of sockets) socket.close();
}

if (mode === "connect" || mode === "hold") {
  const n = num(0, "n"), concurrency = num(1, "concurrency");
  const started = performance.now();
  const { sockets, failed } = await openMany(n, concurrency);
  const seconds = (performance.now() - started) / 1000;
  const result = {
    mode,
    established: sockets.length,
    failed,
    seconds,
    per_sec: sockets.length / seconds,
  };
  if (mode === "connect") {
    console.log(JSON.stringify(result));
    closeAll(sockets);
    process.exit(0);
  }
  let closedByServer = 0;
  for (const socket of sockets) socket.onclose = () => closedByServer++;
  console.log(JSON.stringify({ ...result, ready: true }));
  process.on("SIGTERM", () => {
    console.log(JSON.stringify({ mode: "hold", closed_by_server: closedByServer }));
    closeAll(sockets);
    process.exit(0);
  });
} else if (mode === "throughput") {
  const n = num(0, "n"), seconds = num(1, "seconds"), bytes = num(2, "payload");
  const { sockets, failed } = await openMany(n, 200);
  if (failed) console.error(`driver: ${failed} connections failed`);
  const text = message(bytes);
  let received = 0, refused = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(sockets.map((socket) =>
    new Promise((resolve) => {
      socket.onmessage = (event) => {
        received++;
        if (refusedReply(event.data)) refused++;
        if (performance.now() < end) socket.send(text);
        else resolve();
      };
      socket.send(text);
    })
  ));
  const elapsed = (performance.now() - started) / 1000;
  console.log(
    JSON.stringify({
      mode,
      connections: sockets.length,
      // Echoes only: a `rate_limited` reply is a round trip too, but not the work measured.
      msgs_per_sec: (received - refused) / elapsed,
      received,
      refused,
    }),
  );
  closeAll(sockets);
  process.exit(0);
} else if (mode === "latency") {
  const n = num(0, "n"),
    seconds = num(1, "seconds"),
    bytes = num(2, "payload"),
    rate = num(3, "rate"),
    warmup = rest[4] === undefined ? 0 : num(4, "warm-up seconds");
  const { sockets } = await openMany(n, 200);
  const text = message(bytes);
  const rtts = [];
  // Each socket answers in order, so a FIFO of send times per socket pairs replies to sends.
  // Round trips of messages sent during the warm-up (JIT tiering, heap growth) are not kept.
  const pending = sockets.map(() => []);
  let measureFrom = Infinity, total = 0, answered = 0, refused = 0;
  sockets.forEach((socket, i) => {
    socket.onmessage = (event) => {
      const sentAt = pending[i].shift();
      answered++;
      if (refusedReply(event.data)) refused++;
      if (sentAt >= measureFrom) rtts.push(performance.now() - sentAt);
    };
  });
  const tickMs = 5;
  const perTick = (rate * tickMs) / 1000;
  let carry = 0, cursor = 0;
  const started = performance.now();
  measureFrom = started + warmup * 1000;
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const due = (performance.now() - started) / 1000 * rate - total; // catch up after a late tick
      carry = Math.max(0, Math.min(due, perTick * 4));
      for (let k = 0; k < Math.floor(carry); k++) {
        const i = cursor++ % sockets.length;
        pending[i].push(performance.now());
        sockets[i].send(text);
        total++;
      }
      if (performance.now() - started >= (warmup + seconds) * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, tickMs);
  });
  const deadline = performance.now() + 5000;
  while (answered < total && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  rtts.sort((a, b) => a - b);
  const q = (p) => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))];
  console.log(JSON.stringify({
    mode,
    target_per_sec: rate,
    achieved_per_sec: total / (warmup + seconds),
    warmup_seconds: warmup,
    sent: total,
    received: answered,
    refused,
    measured: rtts.length,
    p50_ms: q(0.5),
    p99_ms: q(0.99),
    p999_ms: q(0.999),
    max_ms: rtts[rtts.length - 1],
  }));
  closeAll(sockets);
  process.exit(0);
} else if (mode === "fanout") {
  // Every member joins one chat room; the first `publishers` of them say as fast as one
  // request in flight each allows; a delivery is one chat.message envelope at a member,
  // whether it came alone or in a batched frame (a JSON array).
  const members = num(0, "members"),
    publishers = num(1, "publishers"),
    seconds = num(2, "seconds");
  if (num(3, "batching") === 1) protocols = ["mmo.batch.v1"];
  const { sockets, failed } = await openMany(members, 200);
  if (failed) {
    console.error(`driver: ${failed} connections failed`);
    process.exit(1);
  }
  const envelopes = (text) => {
    const parsed = JSON.parse(text);
    return Array.isArray(parsed) ? parsed : [parsed];
  };
  let lastMessageAt = performance.now();
  await Promise.all(sockets.map((socket) =>
    new Promise((resolve, reject) => {
      socket.onmessage = (event) => {
        lastMessageAt = performance.now();
        const reply = envelopes(event.data).find((m) => m.id === 1);
        if (reply?.data?.ok) resolve();
        else if (reply) reject(new Error(`join failed: ${JSON.stringify(reply)}`));
      };
      socket.send(JSON.stringify({ type: "request", id: 1, route: "chat.join", data: "bench" }));
    })
  ));
  // Let the joins' own traffic (the gateway pushes presence to the room) drain first.
  const settleDeadline = performance.now() + 30_000;
  while (performance.now() - lastMessageAt < 300 && performance.now() < settleDeadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const MESSAGE = '"chat.message"';
  const pushesIn = (text) => {
    if (typeof text !== "string") {
      console.error("driver: the server sent a binary frame; the chat workload is text only");
      process.exit(1);
    }
    if (text.charCodeAt(0) !== 91) return text.includes(MESSAGE) ? 1 : 0; // not "[": one envelope
    let count = 0;
    for (let i = text.indexOf(MESSAGE); i >= 0; i = text.indexOf(MESSAGE, i + MESSAGE.length)) {
      count++;
    }
    return count;
  };
  let delivered = 0, said = 0, measuring = true;
  for (const socket of sockets) {
    socket.onmessage = (event) => {
      if (measuring) delivered += pushesIn(event.data);
    };
  }
  const say = (i, id) =>
    JSON.stringify({ type: "request", id, route: "chat.say", data: { text: `m${i}`.padEnd(32) } });
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const end = started + seconds * 1000;
  sockets.slice(0, publishers).forEach((socket, i) => {
    let id = 1;
    socket.onmessage = (event) => {
      if (!measuring) return;
      delivered += pushesIn(event.data);
      if (event.data.includes('"type":"response"') && performance.now() < end) {
        said++;
        socket.send(say(i, ++id));
      }
    };
    socket.send(say(i, ++id));
  });
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  console.log(JSON.stringify({
    mode,
    members: sockets.length,
    publishers,
    batching: protocols.length > 0,
    deliveries_per_sec: delivered / elapsed,
    says_per_sec: said / elapsed,
    driver_cpu_percent: (cpu.user + cpu.system) / 1e4 / elapsed,
  }));
  closeAll(sockets);
  process.exit(0);
} else if (mode === "ping") {
  // One session pings every `interval` ms; the first second's round trips are not kept. Pings
  // still unanswered 5 s after the last count with their age then (`unanswered` says how many).
  const seconds = num(0, "seconds"), interval = num(1, "interval ms");
  const socket = await open();
  if (!socket) {
    console.error("driver: the ping session did not open");
    process.exit(1);
  }
  const sentAt = new Map();
  const rtts = [];
  let id = 0, lost = 0;
  const keepFrom = performance.now() + 1000;
  socket.onmessage = (event) => {
    const reply = JSON.parse(event.data);
    if (reply.type !== "pong") return;
    const at = sentAt.get(reply.id);
    sentAt.delete(reply.id);
    if (at !== undefined && at >= keepFrom) rtts.push(performance.now() - at);
  };
  await new Promise((resolve) => {
    const end = keepFrom + seconds * 1000;
    const timer = setInterval(() => {
      const now = performance.now();
      if (now >= end) {
        clearInterval(timer);
        resolve();
        return;
      }
      sentAt.set(++id, now);
      socket.send(JSON.stringify({ type: "ping", id }));
    }, interval);
  });
  const deadline = performance.now() + 5000;
  while (sentAt.size > 0 && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  // A ping still unanswered counts with its age now: a lower bound of its round trip.
  lost = sentAt.size;
  const now = performance.now();
  for (const at of sentAt.values()) if (at >= keepFrom) rtts.push(now - at);
  rtts.sort((a, b) => a - b);
  const q = (p) => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))];
  console.log(JSON.stringify({
    mode,
    pings: rtts.length,
    unanswered: lost,
    p50_ms: q(0.5),
    p99_ms: q(0.99),
    max_ms: rtts[rtts.length - 1],
  }));
  socket.close();
  process.exit(0);
} else if (mode === "flood") {
  // A raw TCP WebSocket client: writes pre-masked echo frames as fast as the socket drains and
  // reads the replies only to drop them (and to notice a close frame). With `reconnect`, when
  // the gateway closes it (a rate-limit close, say), it connects again, as a determined client
  // would; without, it stops there, as the one session it was.
  const net = await import("node:net");
  const bytes = num(0, "payload"), reconnect = num(1, "reconnect") === 1;
  const target = new URL(url);
  const frame = (() => {
    const payload = new TextEncoder().encode(message(bytes));
    if (payload.length >= 126) {
      console.error("driver: flood payload must make a message under 126 bytes");
      process.exit(2);
    }
    const key = crypto.getRandomValues(new Uint8Array(4));
    const out = new Uint8Array(6 + payload.length);
    out.set([0x81, 0x80 | payload.length, ...key]);
    for (let i = 0; i < payload.length; i++) out[6 + i] = payload[i] ^ key[i & 3];
    return out;
  })();
  const chunk = new Uint8Array(Math.floor(65536 / frame.length) * frame.length);
  for (let at = 0; at < chunk.length; at += frame.length) chunk.set(frame, at);
  const stats = { connections: 0, frames_sent: 0, bytes_received: 0, close_codes: {} };
  let stopping = false;
  const connect = () => {
    stats.connections++;
    const socket = net.connect(Number(target.port), target.hostname);
    let upgraded = false, header = "", pending = new Uint8Array(0), skip = 0;
    const pump = () => {
      while (upgraded && !stopping && !socket.destroyed) {
        stats.frames_sent += chunk.length / frame.length;
        if (!socket.write(chunk)) return; // resumes on drain
      }
    };
    socket.on("connect", () => {
      socket.write(
        `GET ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\n` +
          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
          "Sec-WebSocket-Version: 13\r\n\r\n",
      );
    });
    socket.on("drain", pump);
    socket.on("data", (data) => {
      stats.bytes_received += data.length;
      if (!upgraded) {
        header += data.toString("latin1");
        const end = header.indexOf("\r\n\r\n");
        if (end < 0) return;
        if (!header.startsWith("HTTP/1.1 101")) {
          console.error(`driver: flood upgrade refused: ${header.split("\r\n")[0]}`);
          socket.destroy();
          return;
        }
        upgraded = true;
        data = Buffer.from(header.slice(end + 4), "latin1");
        pump();
      }
      // Skip server frames, looking only for a close frame (opcode 8).
      const buf = pending.length ? Buffer.concat([pending, data]) : data;
      let at = 0;
      if (skip > 0) {
        const n = Math.min(skip, buf.length);
        skip -= n;
        at = n;
      }
      while (skip === 0 && buf.length - at >= 2) {
        const opcode = buf[at] & 0x0f;
        let length = buf[at + 1] & 0x7f, head = 2;
        if (length === 126) {
          if (buf.length - at < 4) break;
          length = buf.readUInt16BE(at + 2);
          head = 4;
        } else if (length === 127) {
          if (buf.length - at < 10) break;
          length = Number(buf.readBigUInt64BE(at + 2));
          head = 10;
        }
        if (opcode === 8) {
          if (buf.length - at < head + Math.min(length, 2)) break;
          const code = length >= 2 ? buf.readUInt16BE(at + head) : 1005;
          stats.close_codes[code] = (stats.close_codes[code] ?? 0) + 1;
          socket.destroy();
          return;
        }
        const available = buf.length - at - head;
        if (available < length) {
          skip = length - available;
          at = buf.length;
          break;
        }
        at += head + length;
      }
      pending = at < buf.length ? buf.subarray(at) : new Uint8Array(0);
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      if (stopping) return;
      if (reconnect) setTimeout(connect, 10);
      else finish(); // the one session is over: report, as on SIGTERM
    });
  };
  const finish = () => {
    stopping = true;
    console.log(JSON.stringify({ mode, ...stats }));
    process.exit(0);
  };
  connect();
  console.log(JSON.stringify({ mode, flooding: true }));
  process.on("SIGTERM", finish);
} else {
  console.error("driver: mode must be connect, hold, throughput, latency, fanout, ping or flood");
  process.exit(2);
}
