/**
 * The WebSocket listener as the gateway drives it, whichever engine serves it
 * (`websocket.engine`): `gateway` (`websocket_listener_gateway.ts`, the gateway's own framing)
 * or `deno` (`websocket_listener_deno.ts`, `Deno.upgradeWebSocket`).
 *
 * @module
 */
import type { GatewayConfig } from "../config/config.ts";
import type { ListenerEvents } from "../core/events.ts";
import type { Gateway } from "../core/gateway.ts";
import type { Logger } from "../core/logger.ts";
import type { DescriptorCounter } from "./websocket/mod.ts";
import { SocketCount } from "./socket_count.ts";
import { WebSocketUpgradePolicy } from "./websocket_upgrade_policy.ts";

/** Options of every WebSocket listener. */
export interface WebSocketListenerOptions {
  /** The whole config: the `websocket` section, and the limits the engine enforces. */
  config: GatewayConfig;
  /** Where upgraded connections go. */
  gateway: Gateway;
  /** Listener observers (metrics). */
  events: ListenerEvents;
  /** Logger for refusals and listener faults. */
  logger: Logger;
  /** Share the port with other gateway processes. */
  reusePort?: boolean;
  /**
   * Counts the process's file descriptors, for `limits.fd_reserve`; absent, the reserve is
   * not enforced.
   */
  descriptors?: DescriptorCounter;
}

/** A WebSocket listener; see the module doc. */
export interface WebSocketListener extends AsyncDisposable {
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** Whether new connections are being accepted now. */
  readonly listening: boolean;
  /** Upgraded connections not closed yet. */
  readonly openSockets: number;
  /** Resolves once every upgraded connection has closed, or when `signal` aborts. */
  socketsClosed(signal?: AbortSignal): Promise<void>;
  /** Refuses new upgrades with 503 from now on; existing sessions are untouched. */
  drain(): void;
  /** Stops accepting; sessions are closed by whoever owns the session manager. */
  close(): Promise<void>;
}

/**
 * What every engine's listener shares: the upgrade policy (which a drain switches to 503) and
 * the count of upgraded sockets a shutdown waits for. An engine adds its server: `addr`,
 * `listening` and `close`.
 */
export abstract class WebSocketListenerBase implements WebSocketListener {
  /** Decides each upgrade: path, origin, capacity, draining. */
  protected readonly policy: WebSocketUpgradePolicy;
  /** Upgraded sockets not closed yet. */
  protected readonly sockets: SocketCount = new SocketCount();

  /** Sets up the policy from the `websocket` config section. */
  constructor(options: WebSocketListenerOptions) {
    this.policy = new WebSocketUpgradePolicy({
      config: options.config.websocket,
      sessions: options.gateway.sessions,
      events: options.events,
      logger: options.logger,
    });
  }

  /** The bound address. */
  abstract readonly addr: Deno.NetAddr;
  /** Whether new connections are being accepted now. */
  abstract readonly listening: boolean;
  /** Stops accepting; sessions are closed by whoever owns the session manager. */
  abstract close(): Promise<void>;

  /** Upgraded connections not closed yet. */
  get openSockets(): number {
    return this.sockets.open;
  }

  /** Resolves once every upgraded connection has closed, or when `signal` aborts. */
  socketsClosed(signal?: AbortSignal): Promise<void> {
    return this.sockets.whenZero(signal);
  }

  /** Refuses new upgrades with 503 from now on; existing sessions are untouched. */
  drain(): void {
    this.policy.drain();
  }

  /** Stops accepting. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
