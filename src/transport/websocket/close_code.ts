/**
 * The close codes this engine sends on its own, and which codes a peer may send (RFC 6455
 * §7.4). The gateway maps them onto its disconnect table; the engine never invents codes
 * outside the RFC's registry.
 *
 * @module
 */

/** Normal closure: the purpose of the connection was fulfilled. */
export const CLOSE_NORMAL = 1000;
/** The endpoint is going away (server shutdown). */
export const CLOSE_GOING_AWAY = 1001;
/** The peer broke the framing rules of RFC 6455. */
export const CLOSE_PROTOCOL_ERROR = 1002;
/** The peer sent a close frame without a code; never sent on the wire. */
export const CLOSE_NO_STATUS = 1005;
/** The connection ended without a close frame; never sent on the wire. */
export const CLOSE_ABNORMAL = 1006;
/** A text message or close reason was not valid UTF-8. */
export const CLOSE_INVALID_DATA = 1007;
/** A message exceeded the configured size limit. */
export const CLOSE_MESSAGE_TOO_BIG = 1009;
/** The server hit an unexpected condition (an event handler threw). */
export const CLOSE_INTERNAL_ERROR = 1011;

/**
 * Whether `code` may travel in a close frame: 1000–1003 and 1007–1014 from the RFC and the
 * IANA registry, and 3000–4999 for libraries and applications. 1004–1006 and 1015 are
 * reserved for local use and must never be sent.
 */
export function isSendableCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}
