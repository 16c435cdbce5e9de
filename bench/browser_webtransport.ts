/**
 * Round trips from a browser page over WebTransport against WebSocket: headless Chromium
 * (Debian's, driven by playwright-core) loads one page that imports the SDK bundle, and the
 * same `GatewayClient` code sends `echo` requests one after another to one gateway, over each
 * transport in turn. Rounds alternate the order of the transports, since this machine's cores
 * are shared and the noise is large; compare the medians.
 *
 * Usage: deno run -A bench/browser_webtransport.ts [--rounds 5] [--round-trips 2000]
 *
 * Prints a Markdown table: round trips per second and p50/p99 latency per round, and medians.
 *
 * @module
 */
import { chromium } from "playwright-core";
import { startGateway } from "../src/app.ts";
import { intFlag, parseCliArgs, UsageError } from "../src/config/cli_args.ts";
import { parseConfig } from "../src/config/config.ts";
import { Logger } from "../src/core/logger.ts";

const USAGE = `Usage: deno run -A bench/browser_webtransport.ts [options]

Measures sequential request/response round trips from headless Chromium to one gateway, over
WebTransport and over WebSocket, with the SDK's browser bundle.

Options:
  --rounds <n>        rounds; each measures both transports, in alternating order (default 5)
  --round-trips <n>   requests per transport and round, one at a time (default 2000)
  -h, --help          show this help

Needs /usr/bin/chromium and the bundle's build (deno task build-client, run here).`;

const ROOT = new URL("../", import.meta.url);
const CHROMIUM = "/usr/bin/chromium";

/** The page: the SDK bundle as `sdk`, and the measuring loop, run entirely in the browser. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<script type="module">
  import * as sdk from "/client.js";
  // metricsUrl: for WebTransport, where /dev-cert-hash gives the certificate's hash.
  globalThis.measure = async (url, metricsUrl, count) => {
    const options = {};
    if (metricsUrl) {
      const { algorithm, value } = await (await fetch(metricsUrl + "/dev-cert-hash")).json();
      options.transport = "webtransport";
      options.serverCertificateHashes = [
        { algorithm, value: Uint8Array.from(atob(value), (c) => c.charCodeAt(0)) },
      ];
    }
    const client = await sdk.GatewayClient.connect(url, options);
    try {
      for (let i = 0; i < 200; i++) await client.request("echo", i); // warm-up
      const latencies = new Float64Array(count);
      const started = performance.now();
      for (let i = 0; i < count; i++) {
        const sent = performance.now();
        await client.request("echo", i);
        latencies[i] = performance.now() - sent;
      }
      const seconds = (performance.now() - started) / 1000;
      latencies.sort();
      return {
        transport: client.transport,
        perSec: Math.round(count / seconds),
        p50Ms: latencies[Math.floor(count * 0.5)],
        p99Ms: latencies[Math.min(count - 1, Math.floor(count * 0.99))],
      };
    } finally {
      await client.close();
    }
  };
  globalThis.benchReady = true;
</script>
`;

interface Result {
  transport: string;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
}

async function buildBundle(): Promise<string> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "build-client"],
    cwd: ROOT.pathname,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(`build-client failed: ${new TextDecoder().decode(stderr)}`);
  return await Deno.readTextFile(new URL("dist/client.js", ROOT));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Runs the benchmark; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let flags, rounds, roundTrips;
  try {
    flags = parseCliArgs(args, {
      rounds: { type: "string" },
      "round-trips": { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    rounds = intFlag("rounds", flags.rounds, 5, 1, 1_000);
    roundTrips = intFlag("round-trips", flags["round-trips"], 2_000, 1, 1_000_000);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  const bundle = await buildBundle();
  const page = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/") return new Response(PAGE, { headers: { "content-type": "text/html" } });
    if (pathname === "/client.js") {
      return new Response(bundle, { headers: { "content-type": "text/javascript" } });
    }
    return new Response("Not Found", { status: 404 });
  });
  const certs = await Deno.makeTempDir({ prefix: "bench-certs-" });
  const gateway = startGateway(
    parseConfig({
      websocket: { host: "127.0.0.1", port: 0 },
      metrics: { host: "127.0.0.1", port: 0 },
      quic: { enabled: true, host: "127.0.0.1", port: 0, dev_ca_dir: certs },
      // One session sends thousands of requests a second here: the transports, not the limiter.
      limits: { messages_per_sec: 0 },
      log: { level: "error" },
    }),
    { logger: new Logger("error") },
  );
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  try {
    await gateway.ready;
    const tab = await browser.newPage();
    await tab.goto(`http://127.0.0.1:${page.addr.port}/`);
    await tab.waitForFunction("globalThis.benchReady === true");
    const targets = {
      websocket: { url: `ws://127.0.0.1:${gateway.websocketAddr!.port}/ws`, metrics: null },
      webtransport: {
        url: `https://127.0.0.1:${gateway.quicAddr!.port}/wt`,
        metrics: `http://127.0.0.1:${gateway.metricsAddr!.port}`,
      },
    };
    const results: Record<string, Result[]> = { websocket: [], webtransport: [] };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0
        ? ["webtransport", "websocket"] as const
        : ["websocket", "webtransport"] as const;
      for (const kind of order) {
        const { url, metrics } = targets[kind];
        const result = await tab.evaluate(
          ([url, metrics, count]) =>
            (globalThis as unknown as {
              measure(url: string, metrics: string | null, count: number): Promise<Result>;
            }).measure(url, metrics, count),
          [url, metrics, roundTrips] as const,
        );
        if (result.transport !== kind) throw new Error(`Expected ${kind}, got ${result.transport}`);
        results[kind].push(result);
      }
    }
    console.log(
      `Chromium ${browser.version()}, Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores; ` +
        `${rounds} rounds of ${roundTrips} sequential echo requests per transport (SDK, one page, one gateway).\n`,
    );
    console.log(
      "| transport | round trips/s per round | median/s | p50 ms (median) | p99 ms (median) |",
    );
    console.log("| --- | --- | --- | --- | --- |");
    for (const [kind, list] of Object.entries(results)) {
      console.log(
        `| ${kind} | ${list.map((r) => r.perSec).join(", ")} | ${
          median(list.map((r) => r.perSec))
        } | ` +
          `${median(list.map((r) => r.p50Ms)).toFixed(2)} | ${
            median(list.map((r) => r.p99Ms)).toFixed(2)
          } |`,
      );
    }
    return 0;
  } finally {
    await browser.close();
    await gateway.shutdown(1_000);
    await page.shutdown();
    await Deno.remove(certs, { recursive: true });
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
