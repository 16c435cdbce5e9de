/**
 * Why a client's WebSocket closed, as a disconnect from the table, on every WebSocket engine.
 *
 * @module
 */
import {
  type Disconnect,
  DisconnectClientAway,
  DisconnectClientClosed,
  DisconnectTransportError,
} from "../core/disconnect.ts";

/**
 * Why a client's WebSocket closed: 1000 (or a close frame without a code, 1005) is goodbye; no
 * close frame (1006) or a socket error is a drop; any other code (1001 as a page unloads, 4000
 * from an SDK that gave up on a silent connection) means the client may come back. The last two
 * detach a resumable session.
 */
export function websocketCloseReason(code: number, failed: boolean): Disconnect {
  if (failed || code === 1006) return DisconnectTransportError;
  return code === 1000 || code === 1005 ? DisconnectClientClosed : DisconnectClientAway;
}
