/**
 * The gateway's client SDK for browsers, Deno and Node 22+: requests and responses, pushes,
 * heartbeats, batched frames, reconnects by close code and session resume. It uses only
 * Web-standard APIs (WebSocket, WebTransport, streams) and imports nothing of the gateway.
 *
 * ```ts ignore
 * import { GatewayClient } from "@mmo/gateway/client";
 *
 * const client = await GatewayClient.connect("ws://localhost:8080/ws");
 * client.on("chat.message", (message) => console.log(message));
 * await client.request("chat.join", { room: "lobby", name: "ann" });
 * ```
 *
 * See docs/client.md.
 *
 * @module
 */
export {
  type ClientState,
  GatewayClient,
  type GatewayClientOptions,
  type NotifyOptions,
  type ReconnectOptions,
  type RequestOptions,
} from "./gateway_client.ts";
export { ClientErrorCode, GatewayError, type GatewayErrorOptions } from "./client_error.ts";
export type {
  ClientEvents,
  ClosedEvent,
  ClosedHandler,
  ErrorHandler,
  OpenEvent,
  OpenHandler,
  PushHandler,
  ReconnectingEvent,
  ReconnectingHandler,
  ResumedEvent,
  ResumedHandler,
} from "./client_events.ts";
export type { TransportClose, TransportKind } from "./client_transport.ts";
export type { CertificateHash } from "./client_transport_webtransport.ts";
export type { GatewayUrl, GatewayUrls, TransportChoice } from "./gateway_url.ts";
export { backoffDelay, type BackoffOptions } from "./backoff.ts";
export { type CloseAction, closeAction } from "./close_policy.ts";
