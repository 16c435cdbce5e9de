/**
 * Side-by-side measurement of the QUIC engines, to choose `quic.engine`'s default: handshakes
 * per second, sequential round trips per second, pipelined round trips per second and the
 * gateway memory 200 idle connections cost. Each engine runs in its own child process (gateway
 * and clients on that engine, over loopback); the idle connections are held by a further
 * process so that only the gateway's memory is counted.
 *
 * Usage: deno run -A --unstable-net bench/quic_engines.ts [--handshakes 200] [--round-trips 5000]
 *
 * Writes bench/results/quic_engines.md.
 *
 * @module
 */
import { startGateway } from "../src/app.ts";
import { intFlag, parseCliArgs, UsageError } from "../src/config/cli_args.ts";
import { parseConfig } from "../src/config/config.ts";
import { Logger } from "../src/core/logger.ts";
import { connectQuic, type QuicClientConnection } from "../src/transport/quic_client.ts";
import { createDevTls } from "../src/transport/tls_certs.ts";
import { QUIC_ENGINES, type QuicEngineName } from "../src/config/config.ts";

const USAGE = `Usage: deno run -A --unstable-net bench/quic_engines.ts [options]

Measures both QUIC engines and writes bench/results/quic_engines.md.

Options:
  --handshakes <n>    connections opened and closed one after another (default 200)
  --round-trips <n>   pings on one connection, one at a time (default 5000)
  --idle <n>          idle connections held for the memory figure (default 200)
  -h, --help          show this help`;

/** What one engine measured. */
interface EngineResult {
  engine: QuicEngineName;
  handshakesPerSec: number;
  roundTripsPerSec: number;
  pipelinedPerSec: number;
  idleRssBytesPerConnection: number;
}

function pinger(client: QuicClientConnection) {
  let waiting: (() => void) | undefined;
  let pending = 0;
  client.onMessage = () => {
    if (--pending === 0) waiting?.();
  };
  return (count: number) => {
    pending = count;
    const done = new Promise<void>((resolve) => waiting = resolve);
    for (let i = 0; i < count; i++) void client.send(`{"type":"ping","id":${i}}`);
    return done;
  };
}

async function measure(
  engine: QuicEngineName,
  handshakes: number,
  roundTrips: number,
  idle: number,
): Promise<EngineResult> {
  const dir = await Deno.makeTempDir({ prefix: "quic-bench-" });
  const tls = await createDevTls(`${dir}/ca`);
  await Deno.writeTextFile(`${dir}/cert.pem`, tls.certPem);
  await Deno.writeTextFile(`${dir}/key.pem`, tls.keyPem);
  const gateway = startGateway(
    parseConfig({
      websocket: { enabled: false },
      metrics: { enabled: false },
      // One connection pings thousands of times a second here: the engine's speed, not the limiter.
      limits: { messages_per_sec: 0 },
      quic: {
        enabled: true,
        host: "127.0.0.1",
        port: 0,
        engine,
        max_connections: idle + 10,
        cert_file: `${dir}/cert.pem`,
        key_file: `${dir}/key.pem`,
      },
    }),
    { logger: new Logger("error") },
  );
  try {
    await gateway.ready;
    const options = {
      hostname: "127.0.0.1",
      port: gateway.quicAddr!.port,
      caCerts: [tls.caPem],
      engine,
    };
    let started = performance.now();
    for (let i = 0; i < handshakes; i++) {
      const client = await connectQuic(options);
      await pinger(client)(1);
      await client.close();
    }
    const handshakesPerSec = handshakes / ((performance.now() - started) / 1000);

    const client = await connectQuic(options);
    const ping = pinger(client);
    await ping(100); // warm-up
    started = performance.now();
    for (let i = 0; i < roundTrips; i++) await ping(1);
    const roundTripsPerSec = roundTrips / ((performance.now() - started) / 1000);
    started = performance.now();
    for (let i = 0; i < roundTrips / 100; i++) await ping(100);
    const pipelinedPerSec = roundTrips / ((performance.now() - started) / 1000);
    await client.close();

    // Idle connections come from another process, so the RSS growth is the gateway's alone.
    const rssBefore = Deno.memoryUsage().rss;
    const holder = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-net",
        import.meta.filename!,
        "--hold",
        String(idle),
        "--engine",
        engine,
        "--port",
        String(options.port),
        "--ca",
        `${dir}/ca/ca.pem`,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    await lines.read(); // "ready"
    const idleRssBytesPerConnection = (Deno.memoryUsage().rss - rssBefore) / idle;
    await holder.stdin.close();
    await lines.cancel();
    await holder.status;
    return {
      engine,
      handshakesPerSec,
      roundTripsPerSec,
      pipelinedPerSec,
      idleRssBytesPerConnection,
    };
  } finally {
    await gateway.shutdown(2_000);
    await Deno.remove(dir, { recursive: true });
  }
}

/** Opens `count` idle connections, says "ready", and closes them when stdin closes. */
async function holdConnections(count: number, engine: QuicEngineName, port: number, ca: string) {
  const caCerts = [await Deno.readTextFile(ca)];
  const clients: QuicClientConnection[] = [];
  for (let i = 0; i < count; i++) {
    const client = await connectQuic({ hostname: "127.0.0.1", port, caCerts, engine });
    await pinger(client)(1);
    clients.push(client);
  }
  await new Promise((resolve) => setTimeout(resolve, 500)); // let the server settle
  console.log("ready");
  for await (const _ of Deno.stdin.readable) { /* wait for EOF */ }
  // One at a time: closing hundreds of matrixai clients at once can crash the process with
  // ErrorQUICClientInternal "send UNKNOWN" (docs/quic.md, "Known limits").
  for (const client of clients) await client.close();
}

function report(results: EngineResult[], args: string): string {
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  const rows = results.map((r) =>
    `| ${r.engine} | ${fmt(r.handshakesPerSec)} | ${fmt(r.roundTripsPerSec)} | ` +
    `${fmt(r.pipelinedPerSec)} | ${fmt(r.idleRssBytesPerConnection / 1024)} |`
  );
  return [
    "# QUIC engines side by side",
    "",
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${Deno.build.target}, ${navigator.hardwareConcurrency} cores, ` +
    `${Math.round(Deno.systemMemoryInfo().total / 2 ** 30)} GiB, kernel ${Deno.osRelease()}`,
    `- Deno ${Deno.version.deno}; gateway and client on the same engine, in one process per ` +
    `engine, over loopback`,
    `- Run: \`deno run -A --unstable-net bench/quic_engines.ts ${args}\``,
    "",
    "| engine | handshakes/s | round trips/s (one at a time) | round trips/s (100 in flight) | " +
    "gateway RSS KiB per idle connection |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...rows,
    "",
    "A handshake here is connect, one ping, close. Round trips are `ping` envelopes answered " +
    "with `pong` by the gateway.",
    "",
  ].join("\n");
}

/** Runs the benchmark; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let flags, handshakes, roundTrips, idle;
  try {
    flags = parseCliArgs(args, {
      handshakes: { type: "string" },
      "round-trips": { type: "string" },
      idle: { type: "string" },
      child: { type: "string" },
      hold: { type: "string" },
      engine: { type: "string" },
      port: { type: "string" },
      ca: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    handshakes = intFlag("handshakes", flags.handshakes, 200, 1, 100_000);
    roundTrips = intFlag("round-trips", flags["round-trips"], 5_000, 1, 10_000_000);
    idle = intFlag("idle", flags.idle, 200, 0, 19_000);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  if (flags.hold) {
    await holdConnections(
      Number(flags.hold),
      flags.engine as QuicEngineName,
      Number(flags.port),
      flags.ca!,
    );
    return 0;
  }
  if (flags.child) {
    const result = await measure(flags.child as QuicEngineName, handshakes, roundTrips, idle);
    console.log(JSON.stringify(result));
    return 0;
  }
  const shared = `--handshakes ${handshakes} --round-trips ${roundTrips} --idle ${idle}`;
  const results: EngineResult[] = [];
  for (const engine of QUIC_ENGINES) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-net",
        import.meta.filename!,
        ...shared.split(" "),
        "--child",
        engine,
      ],
      stderr: "inherit",
    }).output();
    if (!output.success) {
      console.error(`The ${engine} run failed`);
      return 1;
    }
    const result: EngineResult = JSON.parse(new TextDecoder().decode(output.stdout));
    console.log(result);
    results.push(result);
  }
  const file = new URL("./results/quic_engines.md", import.meta.url);
  await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
  await Deno.writeTextFile(file, report(results, shared));
  console.log(`Wrote ${file.pathname}`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
