/**
 * The part of QPACK (RFC 9204) a WebTransport server needs: decoding the field section of one
 * CONNECT request and encoding the response's. The gateway never grants a dynamic table (its
 * SETTINGS leave QPACK_MAX_TABLE_CAPACITY at the default 0), so a conforming peer uses only the
 * static table and literals, and a reference to a dynamic table is an error.
 *
 * @module
 */
import { huffmanDecode } from "./huffman.ts";

/** One field line: a lower-case name and its value. */
export type FieldLine = readonly [name: string, value: string];

/** The QPACK static table, RFC 9204 Appendix A (index = position). */
const STATIC_TABLE: readonly FieldLine[] = [
  [":authority", ""],
  [":path", "/"],
  ["age", "0"],
  ["content-disposition", ""],
  ["content-length", "0"],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["referer", ""],
  ["set-cookie", ""],
  [":method", "CONNECT"],
  [":method", "DELETE"],
  [":method", "GET"],
  [":method", "HEAD"],
  [":method", "OPTIONS"],
  [":method", "POST"],
  [":method", "PUT"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "103"],
  [":status", "200"],
  [":status", "304"],
  [":status", "404"],
  [":status", "503"],
  ["accept", "*/*"],
  ["accept", "application/dns-message"],
  ["accept-encoding", "gzip, deflate, br"],
  ["accept-ranges", "bytes"],
  ["access-control-allow-headers", "cache-control"],
  ["access-control-allow-headers", "content-type"],
  ["access-control-allow-origin", "*"],
  ["cache-control", "max-age=0"],
  ["cache-control", "max-age=2592000"],
  ["cache-control", "max-age=604800"],
  ["cache-control", "no-cache"],
  ["cache-control", "no-store"],
  ["cache-control", "public, max-age=31536000"],
  ["content-encoding", "br"],
  ["content-encoding", "gzip"],
  ["content-type", "application/dns-message"],
  ["content-type", "application/javascript"],
  ["content-type", "application/json"],
  ["content-type", "application/x-www-form-urlencoded"],
  ["content-type", "image/gif"],
  ["content-type", "image/jpeg"],
  ["content-type", "image/png"],
  ["content-type", "text/css"],
  ["content-type", "text/html; charset=utf-8"],
  ["content-type", "text/plain"],
  ["content-type", "text/plain;charset=utf-8"],
  ["range", "bytes=0-"],
  ["strict-transport-security", "max-age=31536000"],
  ["strict-transport-security", "max-age=31536000; includesubdomains"],
  ["strict-transport-security", "max-age=31536000; includesubdomains; preload"],
  ["vary", "accept-encoding"],
  ["vary", "origin"],
  ["x-content-type-options", "nosniff"],
  ["x-xss-protection", "1; mode=block"],
  [":status", "100"],
  [":status", "204"],
  [":status", "206"],
  [":status", "302"],
  [":status", "400"],
  [":status", "403"],
  [":status", "421"],
  [":status", "425"],
  [":status", "500"],
  ["accept-language", ""],
  ["access-control-allow-credentials", "FALSE"],
  ["access-control-allow-credentials", "TRUE"],
  ["access-control-allow-headers", "*"],
  ["access-control-allow-methods", "get"],
  ["access-control-allow-methods", "get, post, options"],
  ["access-control-allow-methods", "options"],
  ["access-control-expose-headers", "content-length"],
  ["access-control-request-headers", "content-type"],
  ["access-control-request-method", "get"],
  ["access-control-request-method", "post"],
  ["alt-svc", "clear"],
  ["authorization", ""],
  ["content-security-policy", "script-src 'none'; object-src 'none'; base-uri 'none'"],
  ["early-data", "1"],
  ["expect-ct", ""],
  ["forwarded", ""],
  ["if-range", ""],
  ["origin", ""],
  ["purpose", "prefetch"],
  ["server", ""],
  ["timing-allow-origin", "*"],
  ["upgrade-insecure-requests", "1"],
  ["user-agent", ""],
  ["x-forwarded-for", ""],
  ["x-frame-options", "deny"],
  ["x-frame-options", "sameorigin"],
];

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Reads a field section front to back; every read checks that the bytes are there. */
class FieldSectionReader {
  #offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.#offset >= this.bytes.length;
  }

  byte(): number {
    if (this.done) throw new TypeError("Cannot decode field section: it ends inside a field line");
    return this.bytes[this.#offset++];
  }

  /** A prefixed integer (RFC 7541 §5.1) whose first byte, `first`, is already read. */
  integer(first: number, prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let value = first & max;
    if (value < max) return value;
    for (let shift = 0; shift <= 28; shift += 7) {
      const byte = this.byte();
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
    throw new TypeError("Cannot decode field section: an integer is longer than 2^35");
  }

  /** A string literal whose Huffman flag is the bit just above the `prefixBits` of `first`. */
  string(first: number, prefixBits: number): string {
    const huffman = (first >> prefixBits) & 1;
    const length = this.integer(first, prefixBits);
    if (this.#offset + length > this.bytes.length) {
      throw new TypeError(
        `Cannot decode field section: a string of ${length} bytes runs past its end`,
      );
    }
    const raw = this.bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    try {
      return decoder.decode(huffman ? huffmanDecode(raw) : raw);
    } catch (error) {
      throw new TypeError(`Cannot decode field section: ${(error as Error).message}`);
    }
  }
}

function staticEntry(index: number): FieldLine {
  const entry = STATIC_TABLE[index];
  if (entry === undefined) {
    throw new TypeError(
      `Cannot decode field section: static table index ${index} is above the last, 98`,
    );
  }
  return entry;
}

const NO_DYNAMIC_TABLE =
  "Cannot decode field section: it refers to a dynamic table, which this server never grants";

/**
 * Decodes an encoded field section (a HEADERS frame's payload) into its field lines, in order.
 *
 * @throws {TypeError} when the section is malformed or refers to a dynamic table.
 */
export function decodeFieldSection(bytes: Uint8Array): FieldLine[] {
  const reader = new FieldSectionReader(bytes);
  const requiredInsertCount = reader.integer(reader.byte(), 8);
  reader.integer(reader.byte(), 7); // Delta Base: meaningless without a dynamic table.
  if (requiredInsertCount !== 0) throw new TypeError(NO_DYNAMIC_TABLE);
  const fields: FieldLine[] = [];
  while (!reader.done) {
    const first = reader.byte();
    if (first & 0x80) {
      // 1 T index(6+): indexed field line; T = 1 is the static table.
      if (!(first & 0x40)) throw new TypeError(NO_DYNAMIC_TABLE);
      fields.push(staticEntry(reader.integer(first, 6)));
    } else if (first & 0x40) {
      // 0 1 N T index(4+), then the value: literal with a name reference.
      if (!(first & 0x10)) throw new TypeError(NO_DYNAMIC_TABLE);
      const [name] = staticEntry(reader.integer(first, 4));
      fields.push([name, reader.string(reader.byte(), 7)]);
    } else if (first & 0x20) {
      // 0 0 1 N H length(3+), the name, then the value: literal with a literal name.
      const name = reader.string(first, 3);
      fields.push([name, reader.string(reader.byte(), 7)]);
    } else {
      // 0 0 0 1 ... and 0 0 0 0 ...: post-base references, dynamic by definition.
      throw new TypeError(NO_DYNAMIC_TABLE);
    }
  }
  return fields;
}

/** Appends a prefixed integer (RFC 7541 §5.1) with `flags` in the bits above the prefix. */
function pushInteger(out: number[], flags: number, prefixBits: number, value: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  for (value -= max; value >= 0x80; value = Math.floor(value / 0x80)) {
    out.push((value % 0x80) | 0x80);
  }
  out.push(value);
}

function pushString(out: number[], flags: number, prefixBits: number, text: string): void {
  const bytes = encoder.encode(text);
  pushInteger(out, flags, prefixBits, bytes.length);
  for (const byte of bytes) out.push(byte);
}

/**
 * Encodes field lines as a field section: static-table entries where one matches, literals
 * (without Huffman coding) otherwise, and no dynamic table.
 */
export function encodeFieldSection(fields: readonly FieldLine[]): Uint8Array {
  const out: number[] = [0, 0]; // Required Insert Count 0, Delta Base 0.
  for (const [name, value] of fields) {
    const exact = STATIC_TABLE.findIndex(([n, v]) => n === name && v === value);
    if (exact >= 0) {
      pushInteger(out, 0xc0, 6, exact);
      continue;
    }
    const nameIndex = STATIC_TABLE.findIndex(([n]) => n === name);
    if (nameIndex >= 0) pushInteger(out, 0x50, 4, nameIndex);
    else pushString(out, 0x20, 3, name);
    pushString(out, 0x00, 7, value);
  }
  return new Uint8Array(out);
}
