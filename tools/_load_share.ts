/**
 * A share of a load test, run in this process or in a worker process, seen the same way by
 * the coordinator: live counters, a way to stop, and the final counts and latencies.
 *
 * Workers talk to the coordinator over stdio: one JSON {@linkcode WorkerLine} per stdout line;
 * the coordinator closing a worker's stdin tells it to stop.
 *
 * @module
 */
import { denoRunArgs } from "../src/config/deno_run.ts";
import type { Connector } from "./_client_connection.ts";
import { emptyCounters, type LoadCounters } from "./_load_counters.ts";
import { type LoadPlan, LoadRunner } from "./_load_runner.ts";
import { LatencyHistogram } from "./_latency_histogram.ts";

/** What a share ends with. */
export interface ShareResult {
  /** Final counts. */
  counters: LoadCounters;
  /** Every round-trip time. */
  latency: LatencyHistogram;
}

/** One share of a load test. */
export interface LoadShare {
  /** The latest counts. */
  readonly counters: LoadCounters;
  /** Resolves when the share has finished and closed its connections. */
  readonly done: Promise<ShareResult>;
  /** Asks the share to stop sending, collect replies in flight and close. */
  stop(): void;
}

/** A line a worker prints: its counts so far, or its result. */
export type WorkerLine =
  | { kind: "progress"; counters: LoadCounters }
  | { kind: "result"; counters: LoadCounters; latency: string };

/** Runs `plan` in this process. */
export function runLocalShare(plan: LoadPlan, connect: Connector): LoadShare {
  const runner = new LoadRunner(plan, connect);
  const stop = new AbortController();
  return {
    get counters() {
      return runner.counters;
    },
    done: runner.run(stop.signal).then(() => ({
      counters: runner.counters,
      latency: runner.latency,
    })),
    stop: () => stop.abort(),
  };
}

/** The command that runs this tool again, as the same script or the same compiled binary. */
function selfCommand(toolUrl: URL, args: string[]): { command: string; args: string[] } {
  if (Deno.build.standalone) return { command: Deno.execPath(), args };
  return {
    command: Deno.execPath(),
    args: [...denoRunArgs("load-test"), decodeURIComponent(toolUrl.pathname), ...args],
  };
}

/**
 * Starts a worker process running `toolUrl` (the load test's main module) with `args`, which
 * must put it in worker mode.
 *
 * @throws {Error} from `done` when the worker exits without a result.
 */
export function spawnWorkerShare(toolUrl: URL, args: string[]): LoadShare {
  const { command, args: fullArgs } = selfCommand(toolUrl, args);
  const child = new Deno.Command(command, {
    args: fullArgs,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stdin = child.stdin.getWriter();
  let counters = emptyCounters();
  let stopped = false;
  const read = async (): Promise<ShareResult | undefined> => {
    let result: ShareResult | undefined;
    let buffered = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = JSON.parse(buffered.slice(0, newline)) as WorkerLine;
        buffered = buffered.slice(newline + 1);
        counters = line.counters;
        if (line.kind === "result") {
          result = { counters, latency: new LatencyHistogram(line.latency) };
        }
      }
    }
    return result;
  };
  const done = (async () => {
    const [result, status] = await Promise.all([read(), child.status]);
    if (!stopped) await stdin.close().catch(() => {});
    if (result === undefined) {
      throw new Error(
        `Load-test worker (pid ${child.pid}) exited with code ${status.code} ` +
          `and no result`,
      );
    }
    return result;
  })();
  return {
    get counters() {
      return counters;
    },
    done,
    stop: () => {
      if (stopped) return;
      stopped = true;
      stdin.close().catch(() => {});
    },
  };
}
