/**
 * Protocol v1: one JSON envelope per text frame, the same over WebSocket and QUIC.
 * See docs/protocol.md for the wire description.
 *
 * @module
 */

/** An envelope as it travels on the wire. */
export interface Envelope {
  /** What the message is: `ping`, `request`, ... */
  type: string;
  /** Correlates a reply with its request; a non-negative safe integer. */
  id?: number;
  /** Where a `request` goes, e.g. `echo`. */
  route?: string;
  /** Payload, any JSON value. */
  data?: unknown;
}

/** Error codes carried by `{"type":"error"}` replies. */
export const ErrorCode = {
  /** The frame is not valid JSON. */
  badJson: "bad_json",
  /** The JSON is not an envelope (not an object, or a field has the wrong type). */
  badEnvelope: "bad_envelope",
  /** The `type` is not one the gateway handles. */
  unknownType: "unknown_type",
  /** A `request` names a route nobody serves. */
  unknownRoute: "unknown_route",
  /** A binary frame arrived; no binary codec exists yet. */
  binaryUnsupported: "binary_unsupported",
  /** The route's service did not answer within the request timeout. */
  timeout: "timeout",
  /** No instance of the route's service is reachable (e.g. NATS is down). */
  serviceUnavailable: "service_unavailable",
  /** The handler failed; details are in the gateway's log, not in the reply. */
  internal: "internal_error",
  /** A message other than `auth` (or `ping`) arrived before authentication succeeded. */
  unauthenticated: "unauthenticated",
  /** The token of an `auth` was refused; the session is closed next (4500). */
  unauthorized: "unauthorized",
  /** The user already has a session and `duplicate_login` is `reject_new` (then 4503). */
  alreadyLoggedIn: "already_logged_in",
  /**
   * The session sent over its rate limit (`limits`); the message was not routed. Slow down:
   * past `limits.max_rate_violations` of these in a window the session is closed (4504).
   */
  rateLimited: "rate_limited",
  /** A `resume` could not resume its session (`reason` says why); start a fresh session. */
  resumeFailed: "resume_failed",
} as const;

/** One of the {@linkcode ErrorCode} values. */
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode];

/** Result of decoding a frame: an envelope, or the error to reply with. */
export type DecodeResult =
  | { ok: true; envelope: Envelope }
  | { ok: false; code: ErrorCode; message: string; id?: number };

const MAX_ROUTE_LENGTH = 256;

function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** Decodes one text frame into an envelope, never throwing on bad input. */
export function decodeEnvelope(text: string): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: ErrorCode.badJson, message: "Frame is not valid JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, code: ErrorCode.badEnvelope, message: "Envelope must be a JSON object" };
  }
  const env = value as Record<string, unknown>;
  const id = isId(env.id) ? env.id : undefined;
  if (env.id !== undefined && id === undefined) {
    return {
      ok: false,
      code: ErrorCode.badEnvelope,
      message: "Envelope field id must be a non-negative integer",
    };
  }
  if (typeof env.type !== "string" || env.type.length === 0) {
    return {
      ok: false,
      code: ErrorCode.badEnvelope,
      message: "Envelope field type must be a non-empty string",
      id,
    };
  }
  if (
    env.route !== undefined &&
    (typeof env.route !== "string" || env.route.length > MAX_ROUTE_LENGTH)
  ) {
    return {
      ok: false,
      code: ErrorCode.badEnvelope,
      message: `Envelope field route must be a string of at most ${MAX_ROUTE_LENGTH} characters`,
      id,
    };
  }
  return { ok: true, envelope: env as unknown as Envelope };
}

/** Encodes an error reply; `id` is echoed when the offending frame carried one. */
export function encodeError(code: ErrorCode, message: string, id?: number): string {
  return JSON.stringify(
    id === undefined ? { type: "error", code, message } : { type: "error", id, code, message },
  );
}

/** Why a `resume` failed: the `reason` of its `resume_failed` error, and a metric label. */
export type ResumeFailureReason =
  /** The `resume` data is not `{token: string, last_seq: integer}`. */
  | "malformed"
  /** The connection did something else before `resume` (it must come first). */
  | "not_first"
  /** The token is not one the gateway issued, or was used already. */
  | "bad_token"
  /** No such session: its resume window passed, it ended, or it moved on with a newer token. */
  | "unknown_session"
  /** `last_seq` is older than the oldest message the gateway kept (or newer than it sent). */
  | "out_of_range"
  /** The node holding the session cannot be reached (gone, or NATS is down). */
  | "node_unreachable"
  /** The session could not keep every message it missed. */
  | "overflow";

/** Every {@linkcode ResumeFailureReason}, for metrics that list each one even at zero. */
export const RESUME_FAILURE_REASONS: readonly ResumeFailureReason[] = [
  "malformed",
  "not_first",
  "bad_token",
  "unknown_session",
  "out_of_range",
  "node_unreachable",
  "overflow",
];

/** Encodes the `resume_failed` error of a `resume` with `id`. */
export function encodeResumeFailed(id: number, reason: ResumeFailureReason): string {
  return JSON.stringify({
    type: "error",
    id,
    code: ErrorCode.resumeFailed,
    reason,
    message: "The session cannot be resumed; start a new one",
  });
}

/**
 * Encodes a `response` envelope. A `data` JSON has no form for (`undefined`, a function) is
 * left out, as `JSON.stringify` would; data it cannot encode (a BigInt, a cycle) throws. One
 * `JSON.stringify` of the whole envelope makes a flat string; splicing the encoded data into a
 * template made a rope that the WebSocket frame writer then flattened, a copy per reply.
 */
export function encodeResponse(id: number, data: unknown): string {
  return JSON.stringify({ type: "response", id, data });
}

/**
 * Where a push came from on the cluster's push stream: its publisher (one per broker) and the
 * publisher's running count. Each node sees one publisher's pushes in order, which is what lets
 * a session move between nodes without losing or repeating one (see `session_takeover_nats.ts`).
 */
export interface PushOrigin {
  /** The publishing broker's id, fresh per process. */
  readonly publisher: string;
  /** The publisher's count: 1, 2, 3, ... */
  readonly seq: number;
}

/** An encoded push envelope and how to deliver it. */
export interface EncodedPush {
  /** The encoded `{"type":"push",...}` envelope. */
  readonly text: string;
  /** Send as a QUIC datagram where the session's transport can (e.g. position updates). */
  readonly unreliable: boolean;
  /** Set on pushes that came over the cluster's push stream. */
  readonly origin?: PushOrigin;
}

/** Encodes a push envelope once, for any number of recipients. */
export function encodePush(
  route: string,
  data: unknown,
  options?: { unreliable?: boolean },
): EncodedPush {
  return {
    text: JSON.stringify({ type: "push", route, data }),
    unreliable: options?.unreliable === true,
  };
}

/** Counts the UTF-8 bytes of `text` without allocating; fast for ASCII. */
export function utf8ByteLength(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 2; // a surrogate pair: 4 bytes for its 2 units
      i++;
    } else bytes += 2;
  }
  return bytes;
}
