/**
 * The paging cursor of `GET /admin/sessions`. Sessions are listed in (node id, session id)
 * order, so a cursor is the last session of a page and the node that holds it: it stays valid
 * however sessions and nodes come and go (the next page starts after that point, even when the
 * session or its node is gone). On the wire it is base64url JSON, `{"v":1,"n":node,"s":session}`,
 * read strictly: anything else is a bad cursor, never a guess.
 *
 * @module
 */

/** Where a page ended. */
export interface AdminCursor {
  /** The node of the last session listed. */
  node: string;
  /** The last session listed. */
  session: string;
}

const VERSION = 1;
/** Longest cursor accepted, in characters: two 256-character ids fit with room to spare. */
const MAX_CURSOR_LENGTH = 1_024;
const MAX_ID_LENGTH = 256;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes a cursor as base64url JSON without padding. */
export function encodeCursor(cursor: AdminCursor): string {
  const json = JSON.stringify({ v: VERSION, n: cursor.node, s: cursor.session });
  let binary = "";
  for (const byte of encoder.encode(json)) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Decodes a cursor made by {@linkcode encodeCursor}.
 *
 * @throws {TypeError} saying what is wrong: not base64url, not JSON, other keys or types.
 */
export function decodeCursor(text: string): AdminCursor {
  if (text.length === 0 || text.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(text)) {
    throw new TypeError(
      `Cannot decode cursor: expected 1-${MAX_CURSOR_LENGTH} base64url characters`,
    );
  }
  let value: unknown;
  try {
    const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    value = JSON.parse(decoder.decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
  } catch {
    throw new TypeError("Cannot decode cursor: it is not base64url JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError("Cannot decode cursor: it is not a JSON object");
  }
  const { v, n, s, ...rest } = value as Record<string, unknown>;
  const valid = (id: unknown): id is string =>
    typeof id === "string" && id.length > 0 && id.length <= MAX_ID_LENGTH;
  if (v !== VERSION || !valid(n) || !valid(s) || Object.keys(rest).length > 0) {
    throw new TypeError("Cannot decode cursor: it was not made by this gateway");
  }
  return { node: n, session: s };
}
