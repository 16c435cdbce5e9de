import assert from "node:assert/strict";
import { installLastResortHandlers } from "../../src/ops/last_resort.ts";
import { recordingLogger } from "../_helpers.ts";

Deno.test("an exception thrown from a timer is logged and counted instead of ending the process", async () => {
  const { logger, lines } = recordingLogger();
  let counted = 0;
  const remove = installLastResortHandlers(logger, () => counted++);
  try {
    setTimeout(() => {
      throw new Error("engine internal failure");
    }, 0);
    Promise.reject(new Error("nobody awaits this"));
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    remove();
  }
  assert.equal(counted, 2);
  const messages = lines.map((line) => `${line.msg}: ${line.error}`).sort();
  assert.deepEqual(messages, [
    "uncaught exception; still serving: Error: engine internal failure",
    "unhandled promise rejection; still serving: Error: nobody awaits this",
  ]);
});
