/**
 * The HTTP/3 (RFC 9114) numbers a WebTransport server needs, and the frames and settings it
 * writes: stream types, frame types, settings identifiers and error codes, from RFC 9114,
 * RFC 9204 (QPACK), RFC 9220 (extended CONNECT), RFC 9297 (HTTP datagrams and capsules) and
 * draft-ietf-webtrans-http3 (WebTransport over HTTP/3), with the draft-02 values Chromium still
 * sends next to the current ones.
 *
 * @module
 */
import { readVarint, varintLength, writeVarint } from "./varint.ts";

/** Unidirectional stream types (the first varint on a peer's unidirectional stream). */
export const StreamType = {
  /** The HTTP/3 control stream: SETTINGS first, then GOAWAY and the like. */
  control: 0x00,
  /** The QPACK encoder stream (RFC 9204 §4.2). */
  qpackEncoder: 0x02,
  /** The QPACK decoder stream (RFC 9204 §4.2). */
  qpackDecoder: 0x03,
} as const;

/** The first varint of a WebTransport bidirectional stream; the session id follows. */
export const WEBTRANSPORT_STREAM = 0x41;

/** HTTP/3 frame types. */
export const FrameType = {
  /** Request or response body; on a WebTransport CONNECT stream it carries capsules. */
  data: 0x00,
  /** A QPACK-encoded field section. */
  headers: 0x01,
  /** Connection settings, the first frame on a control stream. */
  settings: 0x04,
} as const;

/** HTTP/3 settings identifiers. */
export const Setting = {
  /** RFC 9220: extended CONNECT (`:protocol`) is allowed. */
  enableConnectProtocol: 0x08,
  /** RFC 9297: HTTP datagrams. */
  h3Datagram: 0x33,
  /** The draft-04 code point of HTTP datagrams, still sent by Chromium. */
  h3DatagramDraft04: 0xffd277,
  /** draft-ietf-webtrans-http3: how many WebTransport sessions the sender allows at once. */
  webTransportMaxSessions: 0xc671706a,
  /** The draft-02 code point of the maximum sessions, still read by Chromium. */
  webTransportMaxSessionsDraft02: 0x2b603743,
  /** draft-02: WebTransport is enabled. */
  webTransportEnableDraft02: 0x2b603742,
} as const;

/** HTTP/3 and QPACK error codes, used as QUIC application close codes. */
export const H3Error = {
  /** The connection closed without an error. */
  noError: 0x100,
  /** A peer broke the protocol in a way no more specific code covers. */
  generalProtocolError: 0x101,
  /** The peer sent more than the server is willing to read. */
  excessiveLoad: 0x107,
  /** The peer's SETTINGS are malformed, or lack what the request needs. */
  settingsError: 0x109,
  /** The control stream does not start with SETTINGS. */
  missingSettings: 0x10a,
  /** The request is no longer wanted (a handshake that timed out, or a server closing). */
  requestCancelled: 0x10c,
  /** A request (or its capsules) is malformed. */
  messageError: 0x10e,
  /** RFC 9204: a field section cannot be decoded. */
  qpackDecompressionFailed: 0x200,
} as const;

/** Writes a frame header (type and payload length) followed by `payload` into one array. */
export function encodeFrame(type: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(varintLength(type) + varintLength(payload.length) + payload.length);
  let offset = writeVarint(frame, 0, type);
  offset = writeVarint(frame, offset, payload.length);
  frame.set(payload, offset);
  return frame;
}

/** Encodes identifier/value pairs as a SETTINGS frame payload. */
export function encodeSettings(settings: ReadonlyMap<number, number>): Uint8Array {
  let length = 0;
  for (const [id, value] of settings) length += varintLength(id) + varintLength(value);
  const payload = new Uint8Array(length);
  let offset = 0;
  for (const [id, value] of settings) {
    offset = writeVarint(payload, offset, id);
    offset = writeVarint(payload, offset, value);
  }
  return payload;
}

/**
 * Decodes a SETTINGS frame payload into identifier/value pairs.
 *
 * @throws {TypeError} when the payload ends inside a pair or repeats an identifier (RFC 9114
 * §7.2.4 makes both H3_SETTINGS_ERROR).
 */
export function decodeSettings(payload: Uint8Array): Map<number, number> {
  const settings = new Map<number, number>();
  let offset = 0;
  while (offset < payload.length) {
    const id = readVarint(payload, offset);
    const value = id && readVarint(payload, id.next);
    if (!id || !value) throw new TypeError("Cannot decode SETTINGS: it ends inside a setting");
    if (settings.has(id.value)) {
      throw new TypeError(`Cannot decode SETTINGS: setting 0x${id.value.toString(16)} repeats`);
    }
    settings.set(id.value, value.value);
    offset = value.next;
  }
  return settings;
}

/**
 * The settings a WebTransport server sends: extended CONNECT, HTTP datagrams and one session,
 * each under the code points current Chromium reads (the current ones and the drafts').
 */
export function serverSettings(): Map<number, number> {
  return new Map([
    [Setting.enableConnectProtocol, 1],
    [Setting.h3Datagram, 1],
    [Setting.h3DatagramDraft04, 1],
    [Setting.webTransportMaxSessions, 1],
    [Setting.webTransportMaxSessionsDraft02, 1],
    [Setting.webTransportEnableDraft02, 1],
  ]);
}

/** Whether a client's settings enable what a WebTransport session needs (datagrams, sessions). */
export function supportsWebTransport(settings: ReadonlyMap<number, number>): boolean {
  const datagrams = settings.get(Setting.h3Datagram) ?? settings.get(Setting.h3DatagramDraft04);
  if (datagrams !== 1) return false;
  const maxSessions = settings.get(Setting.webTransportMaxSessions);
  if (maxSessions !== undefined) return maxSessions > 0;
  return settings.get(Setting.webTransportEnableDraft02) === 1;
}
