/**
 * Resume tokens: `<node>.<session>.<secret>`. The node id says which gateway node holds the
 * session, so any node can find it; the secret (128 random bits) is what proves the right to
 * it, compared in constant time by the holder. A token is single use: every resume (and every
 * new token the session is given) replaces the secret, so an old token no longer matches.
 *
 * @module
 */
import { ResumeBuffer, type ResumeLimits } from "./resume_buffer.ts";
import type { Session } from "./session.ts";

/** A parsed resume token. */
export interface ResumeToken {
  /** The node that held the session when the token was issued. */
  readonly node: string;
  /** The session id. */
  readonly session: string;
  /** The secret, to compare with the session's. */
  readonly secret: string;
}

const PART = /^[A-Za-z0-9_-]{1,64}$/;
/** 16 bytes in base64url without padding. */
const SECRET = /^[A-Za-z0-9_-]{22}$/;

/** A fresh secret: 128 random bits, base64url. */
export function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** Parses a token as a client sent it; undefined when it is not one. */
export function parseResumeToken(text: unknown): ResumeToken | undefined {
  if (typeof text !== "string" || text.length > 200) return undefined;
  const parts = text.split(".");
  if (parts.length !== 3) return undefined;
  const [node, session, secret] = parts;
  if (!PART.test(node) || !PART.test(session) || !SECRET.test(secret)) return undefined;
  return { node, session, secret };
}

/** Compares two secrets in time that depends only on their length, which is public. */
export function secretsMatch(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/** Issues resume tokens for the sessions of one node. */
export class ResumeTokens {
  /** This node's id, as tokens name it. */
  readonly nodeId: string;
  /** Bounds of every session's resume buffer. */
  readonly limits: ResumeLimits;

  /** Issues tokens naming `nodeId`, for buffers bounded by `limits`. */
  constructor(nodeId: string, limits: ResumeLimits) {
    this.nodeId = nodeId;
    this.limits = limits;
  }

  /**
   * Makes `session` resumable, if it is not yet (from now on what it is sent carries `seq`),
   * and returns a new token for it; earlier tokens stop working.
   */
  issue(session: Session): string {
    const secret = newSecret();
    if (session.resume === undefined) session.resume = new ResumeBuffer(this.limits, secret);
    else session.resume.secret = secret;
    return this.format(session);
  }

  /** The current token of a resumable session. */
  format(session: Session): string {
    return `${this.nodeId}.${session.id}.${session.resume!.secret}`;
  }
}
