import assert from "node:assert/strict";
import {
  decodeFieldSection,
  encodeFieldSection,
  type FieldLine,
} from "../../../src/transport/webtransport/qpack.ts";

const hex = (text: string) =>
  Uint8Array.from(text.replaceAll(" ", "").match(/../g)!, (h) => parseInt(h, 16));
const ascii = (text: string) => [...new TextEncoder().encode(text)];

Deno.test("QPACK decodes RFC 9204's static-table example", () => {
  // RFC 9204 B.1: a literal field line with a static name reference.
  assert.deepEqual(decodeFieldSection(hex("0000 510b 2f69 6e64 6578 2e68 746d 6c")), [
    [":path", "/index.html"],
  ]);
});

Deno.test("QPACK decodes every static representation a CONNECT request may use", () => {
  const www = [...hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff")]; // RFC 7541 C.4.1, Huffman-coded
  const section = new Uint8Array([
    0x00,
    0x00, // Required Insert Count 0, Delta Base 0
    0xc0 | 15, // indexed: :method CONNECT
    0xc0 | 23, // indexed: :scheme https
    0x50 | 0,
    0x80 | www.length,
    ...www, // name reference :authority, Huffman value
    0x50 | 1,
    3,
    ...ascii("/wt"), // name reference :path, plain value
    0x20 | 7,
    9 - 7,
    ...ascii(":protocol"),
    12,
    ...ascii("webtransport"), // literal name
    0x50 | 15,
    90 - 15,
    20,
    ...ascii("https://game.example"), // origin (index 90), 4-bit prefix
  ]);
  assert.deepEqual(decodeFieldSection(section), [
    [":method", "CONNECT"],
    [":scheme", "https"],
    [":authority", "www.example.com"],
    [":path", "/wt"],
    [":protocol", "webtransport"],
    ["origin", "https://game.example"],
  ]);
});

Deno.test("QPACK refuses dynamic-table references and malformed sections", () => {
  const cases: Array<[string, number[], RegExp]> = [
    ["a required insert count", [0x01, 0x00], /dynamic table/],
    ["an indexed dynamic line", [0x00, 0x00, 0x80 | 2], /dynamic table/],
    ["a dynamic name reference", [0x00, 0x00, 0x40 | 2, 0], /dynamic table/],
    ["a post-base reference", [0x00, 0x00, 0x10], /dynamic table/],
    ["a static index past 98", [0x00, 0x00, 0xff, 99 - 63], /index 99/],
    ["a string past the end", [0x00, 0x00, 0x51, 5, 0x2f], /runs past its end/],
    ["a line cut short", [0x00, 0x00, 0x51], /ends inside/],
    ["bad Huffman padding", [0x00, 0x00, 0x51, 0x81, 0x00], /padding/],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(() => decodeFieldSection(new Uint8Array(bytes)), message, what);
  }
});

Deno.test("QPACK encodes statuses from the static table and other fields as literals", () => {
  assert.deepEqual(encodeFieldSection([[":status", "200"]]), hex("0000 d9"));
  assert.deepEqual(encodeFieldSection([[":status", "404"]]), hex("0000 db"));
  assert.deepEqual(encodeFieldSection([[":status", "403"]]), hex("0000 ff05"));
  const fields: FieldLine[] = [
    [":status", "503"],
    [":status", "429"],
    ["origin", "https://game.example"],
    ["x-custom-header-name", "v"],
  ];
  assert.deepEqual(decodeFieldSection(encodeFieldSection(fields)), fields);
});
