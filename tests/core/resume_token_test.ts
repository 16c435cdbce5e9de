import assert from "node:assert/strict";
import {
  newSecret,
  parseResumeToken,
  ResumeTokens,
  secretsMatch,
} from "../../src/core/resume_token.ts";
import { SessionManager } from "../../src/core/session_manager.ts";

Deno.test("resume tokens name node and session, and a new token replaces the secret", () => {
  const sessions = new SessionManager({ newId: () => "0b6f-session" });
  const session = sessions.create(
    { kind: "websocket", outboundBytes: 0, write: (text: string) => text.length, close: () => {} },
    "a",
  );
  const tokens = new ResumeTokens("node-1", { maxBytes: 1024, maxMessages: 16 });
  const first = tokens.issue(session);
  const parsed = parseResumeToken(first)!;
  assert.deepEqual([parsed.node, parsed.session], ["node-1", "0b6f-session"]);
  assert.equal(parsed.secret, session.resume!.secret);
  const buffer = session.resume;
  const second = parseResumeToken(tokens.issue(session))!;
  assert.equal(session.resume, buffer, "the buffer stays");
  assert.notEqual(second.secret, parsed.secret);
  assert.equal(secretsMatch(session.resume!.secret, parsed.secret), false);
});

Deno.test("parseResumeToken refuses anything but node.session.secret", () => {
  const secret = newSecret();
  assert.match(secret, /^[A-Za-z0-9_-]{22}$/);
  assert.ok(parseResumeToken(`n.s.${secret}`));
  for (
    const bad of [
      undefined,
      7,
      "",
      `n.s`,
      `n.s.${secret}.x`,
      `n.s.short`,
      `n!.s.${secret}`,
      `${"n".repeat(65)}.s.${secret}`,
    ]
  ) {
    assert.equal(parseResumeToken(bad), undefined, String(bad));
  }
  assert.equal(secretsMatch(secret, secret), true);
  assert.equal(secretsMatch(secret, secret.slice(0, 21) + (secret[21] === "A" ? "B" : "A")), false);
  assert.equal(secretsMatch(secret, secret.slice(1)), false);
});
