/**
 * The worker side of `load_test -procs N`: runs one share and reports it on stdout as JSON
 * lines (see {@linkcode WorkerLine}) until its stdin closes or the share is done.
 *
 * @module
 */
import type { Connector } from "./_client_connection.ts";
import type { LoadPlan } from "./_load_runner.ts";
import { runLocalShare, type WorkerLine } from "./_load_share.ts";

/** How often a worker reports its counts. */
const PROGRESS_MS = 500;

const encoder = new TextEncoder();

async function writeLine(line: WorkerLine): Promise<void> {
  const bytes = encoder.encode(JSON.stringify(line) + "\n");
  for (let off = 0; off < bytes.length;) off += await Deno.stdout.write(bytes.subarray(off));
}

/** Runs `plan` as a worker; returns once the result is written.
 * The caller exits: the share may finish before the coordinator closes stdin. */
export async function runWorker(plan: LoadPlan, connect: Connector): Promise<void> {
  const share = runLocalShare(plan, connect);
  // Stdin closing (the coordinator said stop, or died) stops the share.
  void (async () => {
    const buffer = new Uint8Array(64);
    try {
      while (await Deno.stdin.read(buffer) !== null) { /* nothing is sent; wait for EOF */ }
    } catch {
      // A broken stdin means the coordinator is gone: stop all the same.
    }
    share.stop();
  })();
  const ticker = setInterval(() => {
    void writeLine({ kind: "progress", counters: share.counters });
  }, PROGRESS_MS);
  let result;
  try {
    result = await share.done;
  } finally {
    clearInterval(ticker);
  }
  await writeLine({ kind: "result", counters: result.counters, latency: result.latency.encode() });
}
