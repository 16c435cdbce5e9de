/**
 * Client-side frame encoding for tests: masked frames with any flags, lengths and masks,
 * including the malformed ones a well-behaved client never sends.
 */

/** How to encode one client frame. */
export interface ClientFrame {
  /** The opcode (0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong, or any). */
  opcode: number;
  /** The payload, as sent before masking; a string is UTF-8 encoded. */
  payload?: Uint8Array | string;
  /** The FIN bit. Default true. */
  fin?: boolean;
  /** RSV1–3 as a 3-bit number. Default 0. */
  rsv?: number;
  /** Whether to mask. Default true. */
  masked?: boolean;
  /** Announce this length instead of the payload's (for frames whose payload is never sent). */
  announcedLength?: number;
  /** Force the 64-bit length form with this high 32-bit word. */
  high32?: number;
}

/** Opcodes by name. */
export const OP = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** Encodes one client frame. */
export function clientFrame(frame: ClientFrame): Uint8Array {
  const payload = typeof frame.payload === "string"
    ? new TextEncoder().encode(frame.payload)
    : frame.payload ?? new Uint8Array(0);
  const masked = frame.masked ?? true;
  const length = frame.announcedLength ?? payload.length;
  const header: number[] = [
    ((frame.fin ?? true) ? 0x80 : 0) | ((frame.rsv ?? 0) << 4) | frame.opcode,
  ];
  const maskBit = masked ? 0x80 : 0;
  if (frame.high32 !== undefined) {
    header.push(maskBit | 127);
    const high = frame.high32;
    header.push(high >>> 24, (high >>> 16) & 0xff, (high >>> 8) & 0xff, high & 0xff);
    header.push(length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
  } else if (length < 126) {
    header.push(maskBit | length);
  } else if (length < 65536) {
    header.push(maskBit | 126, length >> 8, length & 0xff);
  } else {
    header.push(maskBit | 127);
    const high = Math.floor(length / 0x100000000);
    header.push(high >>> 24, (high >>> 16) & 0xff, (high >>> 8) & 0xff, high & 0xff);
    header.push(length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
  }
  const mask = masked ? crypto.getRandomValues(new Uint8Array(4)) : new Uint8Array(0);
  const out = new Uint8Array(header.length + mask.length + payload.length);
  out.set(header);
  out.set(mask, header.length);
  const at = header.length + mask.length;
  for (let i = 0; i < payload.length; i++) {
    out[at + i] = masked ? payload[i] ^ mask[i & 3] : payload[i];
  }
  return out;
}

/** A close frame payload: code and reason. */
export function closePayload(code: number, reason = ""): Uint8Array {
  const text = new TextEncoder().encode(reason);
  const out = new Uint8Array(2 + text.length);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

/** Joins byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** One frame as a server sent it, decoded without the engine's parser. */
export interface DecodedFrame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/** Decodes unmasked server frames that fill `bytes` exactly; throws on anything else. */
export function decodeServerFrames(bytes: Uint8Array): DecodedFrame[] {
  const frames: DecodedFrame[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let at = 0;
  while (at < bytes.length) {
    if ((bytes[at + 1] & 0x80) !== 0) throw new Error("Server frame is masked");
    let length = bytes[at + 1] & 0x7f;
    let offset = at + 2;
    if (length === 126) {
      length = view.getUint16(offset);
      offset += 2;
    } else if (length === 127) {
      length = Number(view.getBigUint64(offset));
      offset += 8;
    }
    if (offset + length > bytes.length) throw new Error("Server frame is truncated");
    frames.push({
      fin: (bytes[at] & 0x80) !== 0,
      opcode: bytes[at] & 0x0f,
      payload: bytes.slice(offset, offset + length),
    });
    at = offset + length;
  }
  return frames;
}
