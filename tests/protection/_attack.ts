/**
 * What the protection tests share: a gateway child process to attack (so its memory is its
 * own), its resident memory as `/metrics` reports it, and a raw TCP connection.
 */
import { GatewayProcess } from "../_gateway_process.ts";
import type { WebSocketEngineName } from "../../src/config/config.ts";

/** A gateway child process under attack, with its ports. */
export interface Target extends AsyncDisposable {
  /** The process. */
  readonly process: GatewayProcess;
  /** The WebSocket port. */
  readonly websocket: number;
  /** The metrics port. */
  readonly metrics: number;
}

/** Starts `main.ts` on loopback with `config` on top of the defaults, on `engine`. */
export async function startTarget(
  engine: WebSocketEngineName,
  config: Record<string, unknown> = {},
  prefix?: string[],
): Promise<Target> {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  const websocket = (config.websocket ?? {}) as Record<string, unknown>;
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      ...config,
      websocket: { host: "127.0.0.1", port: 0, ...websocket, engine },
      metrics: { host: "127.0.0.1", port: 0 },
    }),
  );
  const process = new GatewayProcess(["--config", path], { prefix });
  try {
    const ports = await process.ports();
    return {
      process,
      ...ports,
      [Symbol.asyncDispose]: async () => {
        await process[Symbol.asyncDispose]();
        await Deno.remove(path);
      },
    };
  } catch (error) {
    await process[Symbol.asyncDispose]();
    await Deno.remove(path);
    throw error;
  }
}

/** The process's resident set size in bytes, from its `/metrics`. */
export async function residentBytes(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const match = /^process_resident_memory_bytes (\d+)/m.exec(text);
  if (!match) throw new Error("/metrics has no process_resident_memory_bytes");
  return Number(match[1]);
}

/** Samples the resident set size every `intervalMs` until stopped; resolves with the peak. */
export function sampleResident(metricsPort: number, intervalMs = 50) {
  let peak = 0;
  let running = true;
  const done = (async () => {
    while (running) {
      peak = Math.max(peak, await residentBytes(metricsPort));
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
    return peak;
  })();
  return {
    /** Stops sampling; resolves with the highest value seen. */
    stop: (): Promise<number> => {
      running = false;
      return done;
    },
  };
}

/** 1 MiB. */
export const MiB = 1024 * 1024;
