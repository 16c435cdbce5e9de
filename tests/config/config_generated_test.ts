import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/config.ts";
import {
  GENERATED_FILES,
  generateDefaultConfig,
  generateDocsTable,
  generateJsonSchema,
  generateTypes,
  withDocsTable,
} from "../../tools/gen_config.ts";

const ROOT = new URL("../../", import.meta.url);

/** `text` as `deno fmt` leaves a file named like `name`. */
async function formatted(text: string, name: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/${name.split("/").pop()}`;
    await Deno.writeTextFile(file, text);
    const { success } = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "-q", "--config", new URL("deno.json", ROOT).pathname, file],
      cwd: dir,
    }).output();
    assert.ok(success, `deno fmt failed on the generated ${name}`);
    return await Deno.readTextFile(file);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function assertCurrent(name: string, generated: string): Promise<void> {
  const onDisk = await Deno.readTextFile(new URL(name, ROOT));
  assert.ok(
    onDisk === await formatted(generated, name),
    `${name} is stale: the config schema changed; run deno task gen-config`,
  );
}

Deno.test("the config types are generated from the current schema", async () => {
  await assertCurrent(GENERATED_FILES.types, generateTypes());
});

Deno.test("config/gateway.schema.json is generated from the current schema", async () => {
  await assertCurrent(GENERATED_FILES.schema, generateJsonSchema());
});

Deno.test("config/gateway.json spells out exactly the built-in defaults", async () => {
  await assertCurrent(GENERATED_FILES.defaults, generateDefaultConfig());
  const shipped = JSON.parse(await Deno.readTextFile(new URL(GENERATED_FILES.defaults, ROOT)));
  assert.equal(shipped.$schema, "./gateway.schema.json");
  assert.deepEqual(parseConfig(shipped), { ...parseConfig({}), $schema: shipped.$schema });
});

Deno.test("the config reference in docs/operations.md lists every field of the schema", async () => {
  const docs = await Deno.readTextFile(new URL(GENERATED_FILES.docs, ROOT));
  await assertCurrent(GENERATED_FILES.docs, withDocsTable(docs, generateDocsTable()));
  assert.match(docs, /\| `session\.heartbeat_ttl_sec` +\| `60` +\| 2–86400/);
});
