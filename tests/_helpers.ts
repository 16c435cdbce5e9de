/** Shared test helpers: bounded waits, quiet loggers, gateway start-up, metric scraping. */
import { type RunningGateway, startGateway } from "../src/app.ts";
import { type GatewayConfigInput, parseConfig } from "../src/config/config.ts";
import { Logger } from "../src/core/logger.ts";

/** A logger that records lines instead of printing them. */
export function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { logger: new Logger("debug", (line) => lines.push(JSON.parse(line))), lines };
}

/** Starts a gateway on 127.0.0.1 port 0 (WebSocket and metrics) with `overrides` on top. */
export function startTestGateway(overrides: GatewayConfigInput = {}): RunningGateway {
  const config = parseConfig({
    ...overrides,
    websocket: { host: "127.0.0.1", port: 0, ...overrides.websocket },
    metrics: { host: "127.0.0.1", port: 0, ...overrides.metrics },
    log: { level: "error", ...overrides.log },
  });
  return startGateway(config, { logger: new Logger("error") });
}

/** Resolves with `promise`, or rejects with `what` after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `condition` every 20 ms until true; fails with `what` after `ms`. */
export async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Fetches the gateway's Prometheus text. */
export async function scrape(gateway: RunningGateway): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${gateway.metricsAddr!.port}/metrics`);
  return await response.text();
}

/** Reads one sample's value from Prometheus text, e.g. `gateway_sessions_active`. */
export function sample(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(series + " ")) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

/** Sleeps `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
