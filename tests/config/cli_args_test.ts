import assert from "node:assert/strict";
import {
  intFlag,
  normalizeGoStyleFlags,
  parseCliArgs,
  UsageError,
} from "../../src/config/cli_args.ts";

Deno.test("Go-style and GNU-style flags parse the same", () => {
  const options = {
    config: { type: "string" as const, short: "c" },
    help: { type: "boolean" as const, short: "h" },
  };
  for (
    const args of [
      ["-config", "x.json"],
      ["--config", "x.json"],
      ["-config=x.json"],
      ["--config=x.json"],
      ["-c", "x.json"],
    ]
  ) {
    assert.equal(parseCliArgs(args, options).config, "x.json", args.join(" "));
  }
  assert.equal(parseCliArgs(["-h"], options).help, true);
});

Deno.test("normalizeGoStyleFlags leaves values, negatives and everything after -- alone", () => {
  assert.deepEqual(
    normalizeGoStyleFlags(["-conn", "100", "-offset", "-5", "-", "--", "-literal"]),
    ["--conn", "100", "--offset", "-5", "-", "--", "-literal"],
  );
});

Deno.test("unknown flags, missing values and bad numbers are usage errors naming the flag", () => {
  const options = { conn: { type: "string" as const } };
  assert.throws(
    () => parseCliArgs(["-nope"], options),
    (e: Error) => e instanceof UsageError && /'--nope'/.test(e.message),
  );
  assert.throws(() => parseCliArgs(["-conn"], options), UsageError);
  assert.throws(() => parseCliArgs(["stray"], options), UsageError);
  assert.equal(intFlag("conn", "100", 1, 1, 1000), 100);
  assert.equal(intFlag("conn", undefined, 7, 1, 1000), 7);
  for (const bad of ["0", "1001", "1.5", "ten", ""]) {
    assert.throws(() => intFlag("conn", bad, 1, 1, 1000), /Invalid value for --conn/);
  }
});
