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
 * @module
 */
import type { FrameEvents } from "./events.ts";
import { type EncodedPush, utf8ByteLength } from "./protocol.ts";
import type { ResumeBuffer } from "./resume_buffer.ts";
import type { Session } from "./session.ts";

/** Called when a detached session was sent more than its resume buffer can keep. */
export type ResumeOverflowHandler = (session: Session) => void;

/** Writes encoded envelopes to sessions through their transports. */
export class SessionWriter {
  readonly #events: FrameEvents;
  #onOverflow: ResumeOverflowHandler = () => {};

  /** Creates a writer that reports every frame and datagram to `events`. */
  constructor(events: FrameEvents) {
    this.#events = events;
  }

  /** Sets what happens to a session whose resume buffer overflowed (it is ended). */
  onResumeOverflow(handler: ResumeOverflowHandler): void {
    this.#onOverflow = handler;
  }

  /**
   * Sends one encoded envelope on the session's reliable path, stamped with a `seq` when the
   * session is resumable; false when it cannot send (a detached session keeps it for later).
   */
  write(session: Session, text: string): boolean {
    const resume = session.resume;
    if (resume !== undefined) return this.#writeSequenced(session, resume, text);
    // Without resume, exactly the path before resume existed: the one check above is its cost.
    if (!session.transport.write(text)) return false;
    const bytes = utf8ByteLength(text);
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
    return this.#send(session, stamped);
  }

  /**
   * Sends one already-encoded push (a fan-out encodes once): as a datagram when it is marked
   * unreliable and the transport can, else on the reliable path (an unreliable push without a
   * `seq`). False when it cannot send.
   */
  sendPush(session: Session, push: EncodedPush): boolean {
    if (push.unreliable) {
      if (session.transport.writeDatagram?.(push.text)) {
        const bytes = utf8ByteLength(push.text);
        session.messagesOut++;
        session.bytesOut += bytes;
        this.#events.onDatagramSent(session.kind, bytes);
        return true;
      }
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
    const bytes = utf8ByteLength(text);
    const stamped = resume.append(text, bytes);
    if (stamped === undefined) {
      this.#onOverflow(session);
      return false;
    }
    if (!session.transport.write(stamped)) return false;
    const sent = bytes + stamped.length - text.length;
    session.messagesOut++;
    session.bytesOut += sent;
    this.#events.onFrameSent(session.kind, sent);
    return true;
  }

  #send(session: Session, text: string): boolean {
    if (!session.transport.write(text)) return false;
    const bytes = utf8ByteLength(text);
    session.messagesOut++;
    session.bytesOut += bytes;
    this.#events.onFrameSent(session.kind, bytes);
    return true;
  }
}
