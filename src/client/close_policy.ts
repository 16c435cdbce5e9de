/**
 * What the client does after a connection ends, by close code (docs/protocol.md, Close codes).
 *
 * @module
 */

/**
 * - `stop`: never reconnect (protocol faults, 4500–4999, a normal close).
 * - `backoff`: reconnect after an exponential, jittered delay.
 * - `immediate`: reconnect at once and resume (4004: the node is draining).
 * - `new_token`: reconnect with a fresh token from `getToken` (4003: token expired).
 */
export type CloseAction = "stop" | "backoff" | "immediate" | "new_token";

/** Close codes the WebSocket API reports for a connection that dropped without a close. */
const DROPPED = new Set([1005, 1006]);
/** Standard codes after which trying again can succeed: going away, too big, server error,
 * service restart, try again later, bad gateway. */
const RETRYABLE = new Set([1001, 1009, 1011, 1012, 1013, 1014]);

/** Close code 4003: the session's token expired; reconnect with a new one. */
export const CLOSE_TOKEN_EXPIRED = 4003;
/** Close code 4004: the node is draining; reconnect at once and resume elsewhere. */
export const CLOSE_RESUME_ELSEWHERE = 4004;

/** Decides whether and how to reconnect after a close with `code`. */
export function closeAction(code: number): CloseAction {
  if (code === CLOSE_RESUME_ELSEWHERE) return "immediate";
  if (code === CLOSE_TOKEN_EXPIRED) return "new_token";
  if (code >= 4000 && code <= 4499) return "backoff";
  if (DROPPED.has(code) || RETRYABLE.has(code)) return "backoff";
  // 1000 normal, 1002/1003/1007/1008/1010 faults a retry repeats, 4500–4999 by definition,
  // and codes the protocol does not assign.
  return "stop";
}
