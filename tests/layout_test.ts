/**
 * The layout of `src/` as a test: rooms import only rooms below them, and no file imports
 * itself through others. A circle or an upward import fails here with the path that makes it.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/**
 * The rooms of `src/`, lowest first: a file may import its own room and the rooms before it.
 * `client` stands apart: the browser SDK imports nothing of the gateway.
 */
const ROOMS = ["config", "core", "services", "transport", "ops", "cluster", "app"] as const;
const STANDALONE_ROOMS = ["client"];

const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^"';]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

async function sourceFiles(dir: URL): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) files.push(...await sourceFiles(url));
    else if (entry.name.endsWith(".ts")) files.push(url.pathname);
  }
  return files;
}

/** Relative imports of every file under `src/`, as repository-relative paths. */
async function importGraph(): Promise<Map<string, string[]>> {
  const root = ROOT.pathname;
  const graph = new Map<string, string[]>();
  for (const file of await sourceFiles(new URL("src/", ROOT))) {
    const text = await Deno.readTextFile(file);
    const targets: string[] = [];
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2];
      if (!specifier.startsWith(".")) continue;
      targets.push(new URL(specifier, `file://${file}`).pathname.slice(root.length));
    }
    graph.set(file.slice(root.length), targets);
  }
  return graph;
}

function roomOf(path: string): string {
  const parts = path.split("/");
  return parts.length === 2 ? parts[1].replace(/\.ts$/, "") : parts[1];
}

/** The first import circle found, as the list of files around it, or undefined. */
export function findCircle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (file: string): string[] | undefined => {
    if (state.get(file) === "done") return undefined;
    if (state.get(file) === "visiting") return [...stack.slice(stack.indexOf(file)), file];
    state.set(file, "visiting");
    stack.push(file);
    for (const target of graph.get(file) ?? []) {
      const circle = visit(target);
      if (circle) return circle;
    }
    stack.pop();
    state.set(file, "done");
    return undefined;
  };
  for (const file of graph.keys()) {
    const circle = visit(file);
    if (circle) return circle;
  }
  return undefined;
}

Deno.test("no file under src/ imports itself through others", async () => {
  const circle = findCircle(await importGraph());
  assert.equal(circle, undefined, `import circle: ${circle?.join(" -> ")}`);
});

Deno.test("findCircle names the files of a circle", () => {
  const graph = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]]);
  assert.deepEqual(findCircle(graph), ["a", "b", "c", "a"]);
  assert.equal(findCircle(new Map([["a", ["b"]], ["b", []]])), undefined);
});

Deno.test("rooms of src/ import only their own room and the rooms below it", async () => {
  const wrong: string[] = [];
  for (const [file, targets] of await importGraph()) {
    const from = roomOf(file);
    for (const target of targets) {
      const to = roomOf(target);
      if (to === from) continue;
      const standalone = STANDALONE_ROOMS.includes(from) || STANDALONE_ROOMS.includes(to);
      const rank = (room: string) => ROOMS.indexOf(room as typeof ROOMS[number]);
      if (standalone || rank(from) < 0 || rank(to) < 0 || rank(to) > rank(from)) {
        wrong.push(`${file} (${from}) imports ${target} (${to})`);
      }
    }
  }
  assert.deepEqual(wrong, [], `lowest room first: ${ROOMS.join(" < ")}`);
});
