/**
 * The resume buffer of one session: it stamps every reliable envelope the session is sent with
 * the session's next `seq` (1, 2, 3, ...) and keeps the latest ones, bounded in bytes and in
 * count, so that a client that lost its connection can be sent what it missed.
 *
 * The gateway cannot know what reached the client before a drop (there are no acks), so the
 * buffer keeps the most recent messages of a live session too, dropping the oldest past its
 * bounds. Once the session is detached nothing it is sent after that point may be dropped: a
 * message that does not fit is an overflow, and the session cannot be resumed without a gap.
 *
 * Stamping inserts `"seq":N,` after the envelope's opening brace. The buffer keeps the envelope
 * as it was before stamping and stamps it again, the same way, to replay it: a replay sends
 * exactly the text first sent, while a push fanned out to a thousand sessions stays one string
 * that every buffer points to. The arrays are allocated on the first message, so a session
 * that was given a token but is sent nothing costs two numbers and a string.
 *
 * @module
 */
import { type EncodedPush, utf8ByteLength } from "./protocol.ts";

/** Bounds of one session's buffer. */
export interface ResumeLimits {
  /** Most bytes of envelopes kept (UTF-8, stamped). */
  readonly maxBytes: number;
  /** Most envelopes kept. */
  readonly maxMessages: number;
}

/** Envelopes kept while a takeover from another node is under way (see `holding`). */
export interface HeldPushes {
  /** What arrived, in order. */
  readonly pushes: EncodedPush[];
  /** Whether more arrived than the buffer's bounds allow. */
  readonly overflowed: boolean;
}

/** Capacity of the ring when it is first allocated. */
const INITIAL_CAPACITY = 8;

/** One session's `seq` counter and its latest reliable envelopes. */
export class ResumeBuffer {
  /** The unguessable part of the session's resume token; replaced on every resume. */
  secret: string;
  readonly #limits: ResumeLimits;
  /** The last `seq` given out; the ring holds `seq - count + 1` through `seq`. */
  #seq = 0;
  #texts: string[] | undefined;
  #sizes: number[] | undefined;
  #head = 0;
  #count = 0;
  #bytes = 0;
  /** Messages with a `seq` above this one may not be dropped (the session is detached). */
  #keepAfter = Infinity;
  /** Set while a takeover is under way: pushes wait here, unstamped. */
  #held: EncodedPush[] | undefined;
  #heldBytes = 0;
  #heldOverflow = false;

  /** Creates an empty buffer with `secret`. */
  constructor(limits: ResumeLimits, secret: string) {
    this.#limits = limits;
    this.secret = secret;
  }

  /**
   * A buffer for a session moving here from another node: it holds pushes unstamped until
   * {@linkcode ResumeBuffer.restore} replaces it with the old node's buffer.
   */
  static holding(limits: ResumeLimits, secret: string): ResumeBuffer {
    const buffer = new ResumeBuffer(limits, secret);
    buffer.#held = [];
    return buffer;
  }

  /**
   * Rebuilds a buffer from another node's: `messages` are the stamped envelopes after
   * `lastSeq`, through `seq`. Undefined when they do not fit this node's bounds.
   *
   * @throws {RangeError} when the number of messages does not match `seq - lastSeq`
   */
  static restore(
    limits: ResumeLimits,
    secret: string,
    lastSeq: number,
    seq: number,
    messages: readonly string[],
  ): ResumeBuffer | undefined {
    if (messages.length !== seq - lastSeq) {
      throw new RangeError(
        `Cannot restore a resume buffer: ${messages.length} messages do not span seq ${lastSeq} to ${seq}`,
      );
    }
    const buffer = new ResumeBuffer(limits, secret);
    buffer.#seq = lastSeq;
    buffer.#keepAfter = lastSeq;
    for (const stamped of messages) {
      const prefix = stampOf(buffer.#seq + 1);
      if (!stamped.startsWith(prefix)) {
        throw new RangeError(
          `Cannot restore a resume buffer: message ${
            buffer.#seq + 1
          } does not start with ${prefix}`,
        );
      }
      const text = `{${stamped.slice(prefix.length)}`;
      if (!buffer.#keep(text, utf8ByteLength(stamped))) return undefined;
    }
    return buffer;
  }

  /** The last `seq` given out (0 before the first message). */
  get seq(): number {
    return this.#seq;
  }

  /** Envelopes kept. */
  get length(): number {
    return this.#count;
  }

  /** Bytes of the envelopes kept. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether pushes are being held for a takeover under way. */
  get holding(): boolean {
    return this.#held !== undefined;
  }

  /**
   * Stamps `text` (one encoded envelope, `bytes` long in UTF-8) with the next `seq`, keeps it,
   * and returns the stamped text. Undefined when the session is detached and keeping it would
   * drop a message the client has not seen: an overflow.
   */
  append(text: string, bytes: number): string | undefined {
    const stamped = stamp(text, this.#seq + 1);
    return this.#keep(text, bytes + stamped.length - text.length) ? stamped : undefined;
  }

  /**
   * The stamped envelopes after `lastSeq`, oldest first; undefined when `lastSeq` is older
   * than the oldest kept (a gap) or newer than the last sent.
   */
  after(lastSeq: number): string[] | undefined {
    const first = this.#seq - this.#count + 1;
    if (!Number.isSafeInteger(lastSeq) || lastSeq > this.#seq || lastSeq < first - 1) {
      return undefined;
    }
    const texts: string[] = [];
    for (let i = lastSeq + 1 - first; i < this.#count; i++) {
      texts.push(stamp(this.#at(i), first + i));
    }
    return texts;
  }

  /** Drops the envelopes up to and including `lastSeq`: the client has them. */
  trimThrough(lastSeq: number): void {
    while (this.#count > 0 && this.#seq - this.#count + 1 <= lastSeq) this.#dropOldest();
  }

  /** From now on, until {@linkcode attach}, keeps everything after `seq` (default: the last). */
  detach(seq: number = this.#seq): void {
    this.#keepAfter = seq;
  }

  /** A connection took the session again: old messages may be dropped again. */
  attach(): void {
    this.#keepAfter = Infinity;
  }

  /** Keeps one push while a takeover is under way. */
  hold(push: EncodedPush): void {
    if (this.#held === undefined || this.#heldOverflow) return;
    this.#held.push(push);
    this.#heldBytes += push.text.length;
    if (
      this.#heldBytes > this.#limits.maxBytes || this.#held.length > this.#limits.maxMessages
    ) {
      this.#heldOverflow = true;
      this.#held.length = 0;
    }
  }

  /** Ends holding; returns what was held. */
  releaseHeld(): HeldPushes {
    const held = { pushes: this.#held ?? [], overflowed: this.#heldOverflow };
    this.#held = undefined;
    return held;
  }

  /** Keeps an envelope (`size`: its bytes once stamped) as `seq + 1`; false on an overflow. */
  #keep(text: string, size: number): boolean {
    const { maxBytes, maxMessages } = this.#limits;
    while (this.#count > 0 && (this.#bytes + size > maxBytes || this.#count >= maxMessages)) {
      if (this.#seq - this.#count + 1 > this.#keepAfter) return false;
      this.#dropOldest();
    }
    if (size > maxBytes) {
      // Too big for any buffer: a detached session loses it, a live one keeps nothing before it.
      if (this.#seq + 1 > this.#keepAfter) return false;
      this.#seq++;
      return true;
    }
    let texts = this.#texts, sizes = this.#sizes;
    if (texts === undefined || sizes === undefined) {
      texts = this.#texts = new Array(INITIAL_CAPACITY);
      sizes = this.#sizes = new Array(INITIAL_CAPACITY).fill(0);
    } else if (this.#count === texts.length) {
      this.#grow(texts, sizes);
      texts = this.#texts!;
      sizes = this.#sizes!;
    }
    const index = (this.#head + this.#count) % texts.length;
    texts[index] = text;
    sizes[index] = size;
    this.#count++;
    this.#bytes += size;
    this.#seq++;
    return true;
  }

  #grow(texts: string[], sizes: number[]): void {
    const capacity = texts.length * 2;
    const nextTexts: string[] = new Array(capacity);
    const nextSizes: number[] = new Array(capacity).fill(0);
    for (let i = 0; i < this.#count; i++) {
      const from = (this.#head + i) % texts.length;
      nextTexts[i] = texts[from];
      nextSizes[i] = sizes[from];
    }
    this.#texts = nextTexts;
    this.#sizes = nextSizes;
    this.#head = 0;
  }

  #at(i: number): string {
    const texts = this.#texts!;
    return texts[(this.#head + i) % texts.length];
  }

  #dropOldest(): void {
    const texts = this.#texts!, sizes = this.#sizes!;
    this.#bytes -= sizes[this.#head];
    texts[this.#head] = "";
    this.#head = (this.#head + 1) % texts.length;
    this.#count--;
  }
}

/** The stamp of `seq`, as it starts a stamped envelope. */
function stampOf(seq: number): string {
  return `{"seq":${seq},`;
}

/** `text` (an envelope, `{...}`) with `"seq":seq` as its first field. */
function stamp(text: string, seq: number): string {
  return `{"seq":${seq},${text.slice(1)}`;
}
