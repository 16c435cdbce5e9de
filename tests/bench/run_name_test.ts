import assert from "node:assert/strict";
import { runName } from "../../bench/bench.ts";

Deno.test("a bench run is named by its date, and by date and time when that date has a run", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const url = new URL(`file://${dir}/`);
    assert.equal(await runName("2026-12-07T13:12:45.123Z", url), "2026-12-07");
    await Deno.writeTextFile(new URL("2026-12-07.md", url), "earlier run");
    assert.equal(await runName("2026-12-07T13:12:45.123Z", url), "2026-12-07T1312");
    assert.equal(await runName("2026-12-08T00:01:00.000Z", url), "2026-12-08");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
