/**
 * The one way out to a client: every envelope the gateway sends a session, a reply or a push,
 * goes through here, so counting (and whatever else must see every outbound message) happens
 * in one place.
 *
 * @module
 */
import type { FrameEvents } from "./events.ts";
import { type EncodedPush, utf8ByteLength } from "./protocol.ts";
import type { Session } from "./session.ts";

/** Writes encoded envelopes to sessions through their transports. */
export class SessionWriter {
  readonly #events: FrameEvents;

  /** Creates a writer that reports every frame and datagram to `events`. */
  constructor(events: FrameEvents) {
    this.#events = events;
  }

  /** Sends one encoded envelope on the session's reliable path; false when it cannot send. */
  write(session: Session, text: string): boolean {
    if (!session.transport.write(text)) return false;
    const bytes = utf8ByteLength(text);
    session.messagesOut++;
    session.bytesOut += bytes;
    this.#events.onFrameSent(session.kind, bytes);
    return true;
  }

  /**
   * Sends one already-encoded push (a fan-out encodes once): as a datagram when it is marked
   * unreliable and the transport can, else on the reliable path. False when it cannot send.
   */
  sendPush(session: Session, push: EncodedPush): boolean {
    if (push.unreliable && session.transport.writeDatagram?.(push.text)) {
      const bytes = utf8ByteLength(push.text);
      session.messagesOut++;
      session.bytesOut += bytes;
      this.#events.onDatagramSent(session.kind, bytes);
      return true;
    }
    return this.write(session, push.text);
  }
}
