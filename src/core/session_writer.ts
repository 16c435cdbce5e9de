/**
 * The one way out to a client: every envelope the gateway sends a session, a reply or a push,
 * goes through here, so counting (and whatever else must see every outbound message) happens
 * in one place.
 *
 * A resumable session's reliable envelopes are stamped with its next `seq` and kept in its
 * resume buffer (`resume_buffer.ts`) here, whether its connection is up or not; a session
 * without a buffer costs one property check. Unreliable pushes and connection-level replies
 * (`pong`, the answers to `auth`, `hello` and `resume`) carry no `seq` and are never kept.
 *
 * Slow consumers (`limits.max_outbound_bytes`): the writer keeps, per session, the characters
 * written since it last read the transport's `outboundBytes` (a runtime call on Deno's
 * WebSocket engine) and reads it again only once they pass a sixteenth of the limit, so a
 * write costs an addition and a comparison. When the transport then holds more than half the
 * limit, unreliable pushes to the session are dropped (reliable messages still go); when it
 * holds more than all of it, the message is not sent and the session is handed to the
 * slow-consumer handler (closed with 4002). Between two reads the queue can grow by at most a
 * sixteenth of the limit plus one message. Replays are not checked: they are bounded by the
 * resume buffer.
 *
 * @module
 */
import type { FrameEvents, LimitEvents } from "./events.ts";
import { type EncodedPush, utf8ByteLength } from "./protocol.ts";
import type { ResumeBuffer } from "./resume_buffer.ts";
import type { Session } from "./session.ts";

/** Called when a detached session was sent more than its resume buffer can keep. */
export type ResumeOverflowHandler = (session: Session) => void;

/** Called when a session's transport holds more than `limits.max_outbound_bytes` (it is closed). */
export type SlowConsumerHandler = (session: Session) => void;

/** Options for {@linkcode SessionWriter}. */
export interface SessionWriterOptions {
  /**
   * `limits.max_outbound_bytes`: past half of it queued, unreliable pushes are dropped; past
   * all of it the session is a slow consumer. Absent: no limit.
   */
  maxOutboundBytes?: number;
}

/** Smallest number of characters written between two reads of a transport's queue. */
const MIN_CHECK_CHARS = 1024;
/** Characters between two reads without a limit: rare enough to cost nothing. */
const NO_LIMIT_CHECK_CHARS = 2 ** 28;

/** Writes encoded envelopes to sessions through their transports. */
export class SessionWriter {
  readonly #events: FrameEvents & LimitEvents;
  readonly #maxOutboundBytes: number;
  readonly #congestedBytes: number;
  /** Characters written after which the transport's queue is read again. */
  readonly #checkChars: number;
  #onOverflow: ResumeOverflowHandler = () => {};
  #onSlowConsumer: SlowConsumerHandler = () => {};

  /** Creates a writer that reports every frame, datagram and dropped message to `events`. */
  constructor(events: FrameEvents & LimitEvents, options: SessionWriterOptions = {}) {
    this.#events = events;
    const max = options.maxOutboundBytes ?? Infinity;
    this.#maxOutboundBytes = max;
    this.#congestedBytes = max / 2;
    // Without a limit the count still resets now and then (a read that finds nothing to do),
    // so it stays a small integer.
    this.#checkChars = max === Infinity
      ? NO_LIMIT_CHECK_CHARS
      : Math.max(MIN_CHECK_CHARS, Math.floor(max / 16));
  }

  /** Sets what happens to a session whose resume buffer overflowed (it is ended). */
  onResumeOverflow(handler: ResumeOverflowHandler): void {
    this.#onOverflow = handler;
  }

  /** Sets what happens to a slow consumer (it is closed with 4002). */
  onSlowConsumer(handler: SlowConsumerHandler): void {
    this.#onSlowConsumer = handler;
  }

  /**
   * Sends one encoded envelope on the session's reliable path, stamped with a `seq` when the
   * session is resumable; false when it cannot send (a detached session keeps it for later).
   */
  write(session: Session, text: string): boolean {
    const resume = session.resume;
    if (resume !== undefined) return this.#writeSequenced(session, resume, text);
    // Without resume, the path before resume existed plus the slow-consumer count.
    if (!this.#admit(session, text.length)) return false;
    const bytes = session.transport.write(text);
    if (bytes < 0) return false;
    session.messagesOut++;
    session.bytesOut += bytes;
    this.#events.onFrameSent(session.kind, bytes);
    return true;
  }

  /**
   * Sends an envelope that belongs to the connection rather than to the session's sequence
   * (`pong`, handshake answers): no `seq`, not kept for a resume.
   */
  writeControl(session: Session, text: string): boolean {
    return this.#send(session, text);
  }

  /** Sends again, as it is, an envelope the session's resume buffer kept (a replay). */
  replay(session: Session, stamped: string): boolean {
    return this.#transmit(session, stamped);
  }

  /**
   * Sends one already-encoded push (a fan-out encodes once): as a datagram when it is marked
   * unreliable and the transport can, else on the reliable path (an unreliable push without a
   * `seq`). False when it cannot send.
   */
  sendPush(session: Session, push: EncodedPush): boolean {
    if (push.unreliable) {
      const bytes = session.transport.writeDatagram?.(push.text) ?? -1;
      if (bytes >= 0) {
        session.messagesOut++;
        session.bytesOut += bytes;
        this.#events.onDatagramSent(session.kind, bytes);
        return true;
      }
      if (session.congested) return this.#sendCongested(session, push.text);
      return this.#send(session, push.text);
    }
    const resume = session.resume;
    if (resume !== undefined && resume.holding) {
      resume.hold(push);
      return true;
    }
    return this.write(session, push.text);
  }

  #writeSequenced(session: Session, resume: ResumeBuffer, text: string): boolean {
    if (resume.holding) {
      resume.hold({ text, unreliable: false });
      return true;
    }
    const stamped = resume.append(text, utf8ByteLength(text));
    if (stamped === undefined) {
      this.#onOverflow(session);
      return false;
    }
    // Kept above before the check: a slow consumer's session is detached, and its client
    // resumes from the buffer.
    if (!this.#admit(session, text.length)) return false;
    const sent = session.transport.write(stamped);
    if (sent < 0) return false;
    session.messagesOut++;
    session.bytesOut += sent;
    this.#events.onFrameSent(session.kind, sent);
    return true;
  }

  #send(session: Session, text: string): boolean {
    return this.#admit(session, text.length) && this.#transmit(session, text);
  }

  #transmit(session: Session, text: string): boolean {
    const bytes = session.transport.write(text);
    if (bytes < 0) return false;
    session.messagesOut++;
    session.bytesOut += bytes;
    this.#events.onFrameSent(session.kind, bytes);
    return true;
  }

  /** Counts `chars` about to be written; false when the session is a slow consumer. */
  #admit(session: Session, chars: number): boolean {
    if ((session.outboundUnchecked += chars) < this.#checkChars) return true;
    return this.#check(session);
  }

  /**
   * An unreliable push to a session congested at the last read: dropped while it still is. A
   * dropped push counts towards the next read of its queue, so a session that drains gets its
   * pushes again.
   */
  #sendCongested(session: Session, text: string): boolean {
    const due = (session.outboundUnchecked += text.length) >= this.#checkChars;
    if (due && !this.#check(session)) return false; // a slow consumer now: counted there
    if (!session.congested) return this.#transmit(session, text);
    this.#events.onOutboundDropped("slow_consumer_unreliable");
    return false;
  }

  /** Reads the transport's queue; a session past the limit is handed over as slow. */
  #check(session: Session): boolean {
    session.outboundUnchecked = 0;
    const queued = session.transport.outboundBytes;
    session.congested = queued > this.#congestedBytes;
    if (queued <= this.#maxOutboundBytes) return true;
    this.#events.onOutboundDropped("slow_consumer_closed");
    this.#onSlowConsumer(session);
    return false;
  }
}
