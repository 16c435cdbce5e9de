import assert from "node:assert/strict";
import { UTF8_ACCEPT, UTF8_REJECT, validateUtf8 } from "../../../src/transport/websocket/_utf8.ts";

const fatal = new TextDecoder("utf-8", { fatal: true });

function isValid(bytes: Uint8Array): boolean {
  try {
    fatal.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Validates `bytes` split at `cut`, carrying the state across the two calls. */
function validateSplit(bytes: Uint8Array, cut: number): boolean {
  const state = validateUtf8(bytes, 0, cut, UTF8_ACCEPT);
  if (state === UTF8_REJECT) return false;
  return validateUtf8(bytes, cut, bytes.length, state) === UTF8_ACCEPT;
}

Deno.test("validateUtf8 agrees with a fatal TextDecoder on every 1- and 2-byte sequence", () => {
  const bytes = new Uint8Array(2);
  for (let a = 0; a < 256; a++) {
    assert.equal(
      validateUtf8(new Uint8Array([a]), 0, 1, UTF8_ACCEPT) === UTF8_ACCEPT,
      isValid(new Uint8Array([a])),
      `byte ${a}`,
    );
    for (let b = 0; b < 256; b++) {
      bytes[0] = a;
      bytes[1] = b;
      const expected = isValid(bytes);
      assert.equal(validateUtf8(bytes, 0, 2, UTF8_ACCEPT) === UTF8_ACCEPT, expected, `${a} ${b}`);
      assert.equal(validateSplit(bytes, 1), expected, `${a} | ${b}`);
    }
  }
});

Deno.test("validateUtf8 agrees with a fatal TextDecoder on 3- and 4-byte sequences at every split", () => {
  // Every lead byte from E0 with second bytes across their boundaries, and the 4-byte leads.
  const seconds = [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff];
  for (let lead = 0xe0; lead <= 0xff; lead++) {
    for (const second of seconds) {
      for (const third of [0x80, 0xbf, 0x41, 0xc0]) {
        for (const fourth of [undefined, 0x80, 0xbf, 0x41]) {
          const bytes = new Uint8Array(
            fourth === undefined ? [lead, second, third] : [lead, second, third, fourth],
          );
          const expected = isValid(bytes);
          for (let cut = 0; cut <= bytes.length; cut++) {
            assert.equal(validateSplit(bytes, cut), expected, `${bytes.join(",")} cut at ${cut}`);
          }
        }
      }
    }
  }
});

Deno.test("validateUtf8 agrees with a fatal TextDecoder on random text split at random points", () => {
  const samples = ["plain ascii", "héllo wörld", "€ and 𝄞 and 中文", "\u{10ffff}\u{fffd}"];
  for (let round = 0; round < 2_000; round++) {
    const text = samples[round % samples.length].repeat(1 + (round % 5));
    const bytes = new TextEncoder().encode(text);
    if (round % 2 === 1) {
      bytes[Math.floor(Math.random() * bytes.length)] = Math.floor(Math.random() * 256);
    }
    const cut = Math.floor(Math.random() * (bytes.length + 1));
    assert.equal(validateSplit(bytes, cut), isValid(bytes), `${bytes.join(",")} cut at ${cut}`);
  }
});

Deno.test("validateUtf8 rejects on the first byte that cannot be UTF-8", () => {
  // A valid prefix, then a lone continuation byte: rejected at once, whatever follows.
  const bytes = new TextEncoder().encode("abc€");
  const broken = new Uint8Array([...bytes, 0x80]);
  assert.notEqual(validateUtf8(broken, 0, bytes.length, UTF8_ACCEPT), UTF8_REJECT);
  assert.equal(validateUtf8(broken, 0, broken.length, UTF8_ACCEPT), UTF8_REJECT);
  // A surrogate (ED A0) is refused at its second byte.
  assert.equal(validateUtf8(new Uint8Array([0xed, 0xa0]), 0, 2, UTF8_ACCEPT), UTF8_REJECT);
});
