/** Admin API test helpers: a token, requests to an admin listener, players that log in. */
import type { RunningGateway } from "../src/app.ts";
import { createDefaultRouter } from "../src/app.ts";
import { AdminTokens } from "../src/ops/admin_auth.ts";
import type { Router } from "../src/services/router.ts";
import { within } from "./_helpers.ts";

/** The admin token of the tests (named `ops`). */
export const ADMIN_TOKEN = "test-admin-token-0123456789";

/** Tokens for `startGateway({ adminTokens })`: {@linkcode ADMIN_TOKEN} named `ops`. */
export const testAdminTokens: AdminTokens = new AdminTokens([{ name: "ops", token: ADMIN_TOKEN }]);

/** The default routes plus `test.login` (binds the user it is given, joins `team:<data>`). */
export function adminTestRouter(): Router {
  return createDefaultRouter().register("test.login", (data, context) => {
    const [user, team] = String(data).split("@");
    context.setUser(user);
    if (team) context.join(`team:${team}`);
    return { user };
  });
}

/** An admin API answer: status, headers and the JSON body. */
export interface AdminAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** Calls the admin API on `port` with the test token unless `token` says otherwise. */
export async function admin(
  port: number,
  path: string,
  init: { method?: string; body?: BodyInit; token?: string | null; headers?: HeadersInit } = {},
): Promise<AdminAnswer> {
  const headers = new Headers(init.headers);
  const token = init.token === undefined ? ADMIN_TOKEN : init.token;
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: init.method ?? "GET",
    headers,
    body: init.body,
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

/** A WebSocket player for admin tests: logs in, keeps what arrives, reports its close. */
export class AdminPlayer {
  readonly inbox: Record<string, unknown>[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private constructor(readonly socket: WebSocket) {
    socket.onmessage = (event) => this.inbox.push(JSON.parse(event.data));
    this.closed = new Promise((resolve) =>
      socket.onclose = (event) => resolve({ code: event.code, reason: event.reason })
    );
  }

  /** Connects to `gateway` and, with `login` (`user` or `user@team`), logs in. */
  static async connect(gateway: RunningGateway, login?: string): Promise<AdminPlayer> {
    const socket = new WebSocket(`ws://127.0.0.1:${gateway.websocketAddr!.port}/ws`);
    await within(new Promise((resolve) => socket.onopen = resolve), 3_000, "open");
    const player = new AdminPlayer(socket);
    if (login !== undefined) {
      socket.send(JSON.stringify({ type: "request", id: 1, route: "test.login", data: login }));
      await within(
        (async () => {
          while (!player.inbox.some((m) => m.id === 1)) await new Promise((r) => setTimeout(r, 5));
        })(),
        3_000,
        "the login reply",
      );
    }
    return player;
  }

  /** Closes the socket (if open) and waits for the close. */
  async close(): Promise<void> {
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.close();
    await this.closed;
  }
}
