// The lean load driver for side-by-side figures. It runs under Bun (web-standard WebSocket),
// because a probe here showed a Deno client capping near 111k msg/s whatever the server, below
// what the fastest server can do (issue 6). One mode per run; prints one JSON line.
//
//   bun bench/driver.mjs connect    <url> <n> <concurrency>
//   bun bench/driver.mjs hold       <url> <n> <concurrency>      (prints {"ready":..} then waits for SIGTERM)
//   bun bench/driver.mjs throughput <url> <n> <seconds> <payload bytes>
//   bun bench/driver.mjs latency    <url> <n> <seconds> <payload bytes> <total msgs/s> [warm-up s]
//   bun bench/driver.mjs fanout     <url> <members> <publishers> <seconds> <offer batching 0|1>

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

function open() {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, protocols);
    socket.onopen = () => resolve(socket);
    socket.onerror = () => resolve(null);
  });
}

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
  let received = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(sockets.map((socket) =>
    new Promise((resolve) => {
      socket.onmessage = () => {
        received++;
        if (performance.now() < end) socket.send(text);
        else resolve();
      };
      socket.send(text);
    })
  ));
  const elapsed = (performance.now() - started) / 1000;
  console.log(
    JSON.stringify({ mode, connections: sockets.length, msgs_per_sec: received / elapsed }),
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
  let measureFrom = Infinity, total = 0, answered = 0;
  sockets.forEach((socket, i) => {
    socket.onmessage = () => {
      const sentAt = pending[i].shift();
      answered++;
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
} else {
  console.error("driver: mode must be connect, hold, throughput, latency or fanout");
  process.exit(2);
}
