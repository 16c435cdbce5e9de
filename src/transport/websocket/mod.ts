/**
 * A WebSocket server engine whose framing the gateway owns (RFC 6455), beside
 * `Deno.upgradeWebSocket`: bounded messages and heads checked before buffering, pongs
 * reported, outbound backpressure visible, and close handshakes that end in bounded time.
 *
 * ```ts
 * await using server = new WebSocketServer({
 *   hostname: "127.0.0.1",
 *   upgrade: (request) =>
 *     request.path === "/ws" ? { accept: true } : { status: 404, body: "Not Found" },
 *   open: (connection) => ({
 *     onText: (text) => connection.send(text),
 *     onBinary: (bytes) => connection.sendBinary(bytes),
 *     onClosed: () => {},
 *   }),
 * });
 * ```
 *
 * @module
 */
export {
  CLOSE_ABNORMAL,
  CLOSE_GOING_AWAY,
  CLOSE_INTERNAL_ERROR,
  CLOSE_INVALID_DATA,
  CLOSE_MESSAGE_TOO_BIG,
  CLOSE_NO_STATUS,
  CLOSE_NORMAL,
  CLOSE_PROTOCOL_ERROR,
  isSendableCloseCode,
} from "./close_code.ts";
export {
  type ConnectionEvents,
  type ConnectionOptions,
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_READ_BUFFER_BYTES,
  type WebSocketConnection,
} from "./connection.ts";
export type { DescriptorCounter } from "./descriptor_budget.ts";
export { DEFAULT_MAX_MESSAGE_BYTES } from "./frame_parser.ts";
export { DEFAULT_MAX_HEAD_BYTES } from "./request_head.ts";
export {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_MAX_PENDING_HANDSHAKES,
  type OpenHandler,
  type UpgradeDecision,
  type UpgradeHandler,
  type UpgradeRequest,
  WebSocketServer,
  type WebSocketServerOptions,
} from "./server.ts";
