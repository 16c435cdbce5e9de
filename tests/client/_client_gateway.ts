/** Helpers of the SDK tests: a gateway with a route the test controls, and server-side closes. */
import assert from "node:assert/strict";
import { createDefaultRouter, type RunningGateway, startGateway } from "../../src/app.ts";
import { type GatewayConfigInput, parseConfig } from "../../src/config/config.ts";
import type { Disconnect } from "../../src/core/disconnect.ts";
import { Logger } from "../../src/core/logger.ts";
import type { Session } from "../../src/core/session.ts";
import type { GatewayClientOptions } from "../../src/client/mod.ts";

/** A route (`test.held`) that answers only when the test lets it, so a request can be in
 * flight at will. Release everything in `finally`. */
export class HeldRoute {
  readonly #waiting: (() => void)[] = [];
  /** The route's handler: answers with the request's data once released. */
  readonly handler = (data: unknown): Promise<unknown> =>
    new Promise((resolve) => this.#waiting.push(() => resolve(data)));
  /** Requests waiting for their answer. */
  get waiting(): number {
    return this.#waiting.length;
  }
  /** Answers every waiting request. */
  releaseAll(): void {
    for (const release of this.#waiting.splice(0)) release();
  }
}

/** Starts a gateway on port 0 with the default routes, `test.held`, and `overrides`. */
export function startClientGateway(
  held: HeldRoute = new HeldRoute(),
  overrides: GatewayConfigInput = {},
): RunningGateway {
  const config = parseConfig({
    ...overrides,
    websocket: { host: "127.0.0.1", port: 0, ...overrides.websocket },
    metrics: { enabled: false },
    log: { level: "error" },
  });
  const router = createDefaultRouter().register("test.held", held.handler);
  return startGateway(config, { logger: new Logger("error"), router });
}

/** The gateway's WebSocket URL. */
export function wsUrl(gateway: RunningGateway): string {
  return `ws://127.0.0.1:${gateway.websocketAddr!.port}/ws`;
}

/** Fast reconnects, so tests spend no time in backoff. */
export const FAST: GatewayClientOptions = {
  reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
  requestTimeoutMs: 3_000,
};

/** The gateway's one session; fails when there is not exactly one. */
export function onlySession(gateway: RunningGateway): Session {
  const sessions = [...gateway.sessions.values()];
  assert.equal(sessions.length, 1, "expected one session on the gateway");
  return sessions[0];
}

/** Closes the gateway's one session from the server side with `disconnect`. */
export function closeFromGateway(gateway: RunningGateway, disconnect: Disconnect): void {
  gateway.sessions.close(onlySession(gateway), disconnect);
}
