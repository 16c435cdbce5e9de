/** A WebSocket test client for service tests: sends requests, keeps every envelope. */
import type { RunningGateway } from "../src/app.ts";
import { waitFor, within } from "./_helpers.ts";

/** A WebSocket player that keeps every envelope it receives. */
export class Player {
  readonly inbox: Record<string, unknown>[] = [];
  #id = 0;
  private constructor(readonly socket: WebSocket) {
    socket.onmessage = (event) => this.inbox.push(JSON.parse(event.data));
  }
  /** Connects to the gateway's WebSocket listener. */
  static async connect(gateway: RunningGateway): Promise<Player> {
    const socket = new WebSocket(`ws://127.0.0.1:${gateway.websocketAddr!.port}/ws`);
    await within(new Promise((resolve) => socket.onopen = resolve), 3_000, "open");
    return new Player(socket);
  }
  /** Sends a request and waits (bounded) for the reply with its id. */
  async request(route: string, data?: unknown): Promise<Record<string, unknown>> {
    const id = ++this.#id;
    this.socket.send(JSON.stringify({ type: "request", id, route, data }));
    let reply: Record<string, unknown> | undefined;
    await waitFor(
      () => !!(reply = this.inbox.find((m) => m.id === id)),
      5_000,
      `reply to ${route}`,
    );
    return reply!;
  }
  /** Pushes received so far on `route`. */
  pushes(route: string): Record<string, unknown>[] {
    return this.inbox.filter((m) => m.type === "push" && m.route === route);
  }
  /** Whether the socket is still open. */
  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }
  /** Closes the socket and waits for it. */
  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) => this.socket.onclose = resolve);
    this.socket.close();
    await closed;
  }
}
