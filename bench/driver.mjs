// The lean load driver for side-by-side figures. It runs under Bun (web-standard WebSocket),
// because a probe here showed a Deno client capping near 111k msg/s whatever the server, below
// what the fastest server can do; see bench/README.md. One mode per run; prints one JSON line.
//
//   bun bench/driver.mjs connect    <url> <n> <concurrency>
//   bun bench/driver.mjs hold       <url> <n> <concurrency>      (prints {"ready":..} then waits for SIGTERM)
//   bun bench/driver.mjs throughput <url> <n> <seconds> <payload bytes>
//   bun bench/driver.mjs latency    <url> <n> <seconds> <payload bytes> <total msgs/s>

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

function open() {
  return new Promise((resolve) => {
    const socket = new WebSocket(url);
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
    rate = num(3, "rate");
  const { sockets } = await openMany(n, 200);
  const text = message(bytes);
  const rtts = [];
  // Each socket answers in order, so a FIFO of send times per socket pairs replies to sends.
  const pending = sockets.map(() => []);
  sockets.forEach((socket, i) => {
    socket.onmessage = () => rtts.push(performance.now() - pending[i].shift());
  });
  const tickMs = 5;
  const perTick = (rate * tickMs) / 1000;
  let carry = 0, sent = 0, cursor = 0;
  const started = performance.now();
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const due = (performance.now() - started) / 1000 * rate - sent; // catch up after a late tick
      carry = Math.max(0, Math.min(due, perTick * 4));
      for (let k = 0; k < Math.floor(carry); k++) {
        const i = cursor++ % sockets.length;
        pending[i].push(performance.now());
        sockets[i].send(text);
        sent++;
      }
      if (performance.now() - started >= seconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, tickMs);
  });
  const deadline = performance.now() + 5000;
  while (rtts.length < sent && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  rtts.sort((a, b) => a - b);
  const q = (p) => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))];
  console.log(JSON.stringify({
    mode,
    target_per_sec: rate,
    achieved_per_sec: sent / seconds,
    sent,
    received: rtts.length,
    p50_ms: q(0.5),
    p99_ms: q(0.99),
    p999_ms: q(0.999),
    max_ms: rtts[rtts.length - 1],
  }));
  closeAll(sockets);
  process.exit(0);
} else {
  console.error("driver: mode must be connect, hold, throughput or latency");
  process.exit(2);
}
