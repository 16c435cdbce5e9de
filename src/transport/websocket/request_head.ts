/**
 * An incremental parser of the HTTP/1.1 request head that opens a WebSocket (RFC 9112 §2–5).
 * It takes the head in chunks of any size, as a slowloris client sends it one byte at a time,
 * refuses a head larger than `maxHeadBytes` with 431 before buffering more, and refuses
 * anything that is not well-formed HTTP/1.x with 400. Bytes that arrive after the head (a
 * client may send its first frame right behind the request) are handed back untouched.
 *
 * @module
 */

/** Default {@linkcode RequestHeadParserOptions.maxHeadBytes}: browsers send 0.3–2 KiB. */
export const DEFAULT_MAX_HEAD_BYTES = 8 * 1024;

/** Options for {@linkcode RequestHeadParser}. */
export interface RequestHeadParserOptions {
  /**
   * Largest head in bytes, the blank line included; a larger one is refused with 431. Bounds
   * what an unauthenticated connection may make the server hold. Default 8 KiB.
   */
  maxHeadBytes?: number;
}

/** A parsed request head. */
export interface RequestHead {
  /** The method, e.g. `GET`. */
  readonly method: string;
  /** The request target as sent: path and query, e.g. `/ws?room=1`. */
  readonly target: string;
  /** The protocol version, e.g. `HTTP/1.1`. */
  readonly version: string;
  /** Header fields by lower-cased name; repeated fields joined with `, ` (RFC 9110 §5.3). */
  readonly headers: ReadonlyMap<string, string>;
}

/** The head could not be accepted; `status` is the HTTP status to answer with. */
export class RequestHeadError extends Error {
  /** 400 for malformed heads, 431 for oversize ones. */
  readonly status: 400 | 431;

  /** Creates an error answered with `status`. */
  constructor(status: 400 | 431, message: string) {
    super(message);
    this.name = "RequestHeadError";
    this.status = status;
  }
}

const CR = 0x0d;
const LF = 0x0a;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TARGET = /^[\x21-\x7e]+$/;
const VERSION = /^HTTP\/1\.[01]$/;
// Field values: visible ASCII, obs-text, space and tab; no other control characters.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

// latin1 maps every byte to one code unit, so no byte of a head is lost or merged.
const latin1 = new TextDecoder("latin1");

/**
 * Parses one request head from chunks. Create one per connection; after it returns a head it
 * must not be fed again.
 */
export class RequestHeadParser {
  readonly #maxHeadBytes: number;
  /** Bytes of an incomplete head kept between chunks. */
  #kept: Uint8Array | undefined;
  #keptLength = 0;
  /** Bytes after the head in the chunk that completed it. */
  #rest: Uint8Array = new Uint8Array(0);

  /** Creates a parser; throws a `RangeError` for a `maxHeadBytes` below 16. */
  constructor(options: RequestHeadParserOptions = {}) {
    const max = options.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES;
    if (!Number.isInteger(max) || max < 16) {
      throw new RangeError(`Cannot parse request heads: maxHeadBytes ${max} is below 16`);
    }
    this.#maxHeadBytes = max;
  }

  /**
   * The bytes that followed the head in the chunk that completed it: a view of that chunk,
   * valid until the caller reuses it.
   */
  get rest(): Uint8Array {
    return this.#rest;
  }

  /**
   * Feeds the next chunk; returns the head once its blank line has arrived, otherwise
   * `undefined`.
   *
   * @throws {RequestHeadError} when the head is malformed (400) or too large (431).
   */
  push(chunk: Uint8Array): RequestHead | undefined {
    if (this.#keptLength === 0) {
      // The common case: the whole head in one read. Parse it in place, keep nothing.
      const end = findHeadEnd(chunk, 0);
      if (end >= 0) {
        if (end > this.#maxHeadBytes) this.#tooLarge();
        this.#rest = chunk.subarray(end);
        return parseHead(chunk.subarray(0, end));
      }
    }
    const before = this.#keptLength;
    const room = this.#maxHeadBytes - before;
    this.#keep(chunk.subarray(0, Math.min(chunk.length, room)));
    // Search from a few bytes back: the blank line may straddle the chunks.
    const end = findHeadEnd(this.#kept!.subarray(0, this.#keptLength), Math.max(0, before - 3));
    if (end < 0) {
      if (chunk.length > room) this.#tooLarge();
      return undefined;
    }
    const head = parseHead(this.#kept!.subarray(0, end));
    this.#rest = chunk.subarray(end - before);
    this.#kept = undefined;
    this.#keptLength = 0;
    return head;
  }

  #tooLarge(): never {
    throw new RequestHeadError(
      431,
      `Request head exceeds the limit of ${this.#maxHeadBytes} bytes`,
    );
  }

  #keep(bytes: Uint8Array): void {
    const needed = this.#keptLength + bytes.length;
    if (this.#kept === undefined || this.#kept.length < needed) {
      const grown = new Uint8Array(
        Math.min(this.#maxHeadBytes, Math.max(needed, 512, 2 * (this.#kept?.length ?? 0))),
      );
      if (this.#kept) grown.set(this.#kept.subarray(0, this.#keptLength));
      this.#kept = grown;
    }
    this.#kept.set(bytes, this.#keptLength);
    this.#keptLength = needed;
  }
}

/**
 * Finds the end of the head (just past the blank line) in `bytes`, searching from `from`;
 * -1 when it has not arrived. A bare LF is refused at once, so a client cannot hide an
 * unterminated head behind line endings that would never match.
 */
function findHeadEnd(bytes: Uint8Array, from: number): number {
  for (let i = bytes.indexOf(LF, from); i >= 0; i = bytes.indexOf(LF, i + 1)) {
    if (i === 0 || bytes[i - 1] !== CR) {
      throw new RequestHeadError(400, "Request head has a line ending without CR");
    }
    if (i >= 3 && bytes[i - 2] === LF && bytes[i - 3] === CR) return i + 1;
    if (i === 1) throw new RequestHeadError(400, "Request head starts with an empty line");
  }
  return -1;
}

function parseHead(bytes: Uint8Array): RequestHead {
  const lines = latin1.decode(bytes).split("\r\n");
  // The head ends with CRLF CRLF: the last two entries are empty.
  lines.length -= 2;
  const parts = lines[0].split(" ");
  if (parts.length !== 3) {
    throw new RequestHeadError(400, "Request line is not 'method target version'");
  }
  const [method, target, version] = parts;
  if (!TOKEN.test(method)) throw new RequestHeadError(400, "Request method is not a token");
  if (!TARGET.test(target)) {
    throw new RequestHeadError(400, "Request target holds characters outside visible ASCII");
  }
  if (!VERSION.test(version)) {
    throw new RequestHeadError(400, `Request version ${JSON.stringify(version)} is not HTTP/1.x`);
  }
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    if (colon <= 0) {
      throw new RequestHeadError(400, `Header line ${i} has no field name followed by a colon`);
    }
    const name = line.slice(0, colon);
    // Also refuses obs-fold (a line starting with a space) and space before the colon.
    if (!TOKEN.test(name)) {
      throw new RequestHeadError(400, `Header line ${i} has a field name that is not a token`);
    }
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!FIELD_VALUE.test(value)) {
      throw new RequestHeadError(400, `Header ${name} holds a control character`);
    }
    const key = name.toLowerCase();
    const earlier = headers.get(key);
    headers.set(key, earlier === undefined ? value : `${earlier}, ${value}`);
  }
  return { method, target, version, headers };
}
