// The module graph of src/: no import cycles, and no part importing from a layer above its own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

const SRC = path.resolve(import.meta.dirname, "../src");
const SOURCE_FILE = /\.(ts|mjs)$/;
const IMPORT = /^\s*(?:import|export)\s[^;]*?from\s+"(\.{1,2}\/[^"]+)"|^\s*import\s+"(\.{1,2}\/[^"]+)"/gm;

/**
 * Layers, lowest first: a module may import from its own layer and the ones below. `main.ts`,
 * `cli.ts` and the simulator sit on top and wire the rest. Live delivery (realtime/) sits below
 * http/, which registers routes only; interop/ registers routes through http/'s router.
 */
const LAYERS: readonly (readonly string[])[] = [
  ["assert.ts", "errors.ts", "events.ts", "event-upgrade.ts", "text.ts", "config.ts", "metrics.ts", "logger.ts", "guard.ts"],
  ["store", "log"],
  ["commands", "search", "render", "auth", "fetch"],
  ["realtime"],
  ["http"],
  ["interop"],
  ["simulator", "cli", "main.ts", "cli.ts"],
];

function part(file: string): string {
  return path.relative(SRC, file).split(path.sep)[0]!;
}

function layerOf(file: string): number {
  const name = part(file);
  const index = LAYERS.findIndex((layer) => layer.includes(name));
  assert.notEqual(index, -1, `${path.relative(SRC, file)} belongs to no layer of test/imports.test.ts`);
  return index;
}

function sourceFiles(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    const full = path.join(folder, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return SOURCE_FILE.test(name) ? [full] : [];
  });
}

/** Every file of src/ and the files of src/ it imports (type-only imports count: they still tie the parts). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, "utf8");
    const targets: string[] = [];
    for (const match of text.matchAll(IMPORT)) targets.push(path.resolve(path.dirname(file), match[1] ?? match[2]!));
    graph.set(file, targets.filter((target) => target.startsWith(SRC)));
  }
  return graph;
}

/** The cycles found by a depth-first walk (each reported once, as the path that closes it). */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, "open");
    stack.push(file);
    for (const target of graph.get(file) ?? []) {
      if (state.get(target) === "open") found.push([...stack.slice(stack.indexOf(target)), target]);
      else if (!state.has(target)) visit(target);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

test("the import graph of src/ is read: files, and imports between them", () => {
  const graph = importGraph();
  assert.ok(graph.size > 50, `only ${graph.size} files found under ${SRC}`);
  const main = graph.get(path.join(SRC, "main.ts"));
  assert.ok(main?.includes(path.join(SRC, "store/store.ts")), "main.ts's import of store/store.ts was not found");
});

test("no import cycle in src/", () => {
  const found = cycles(importGraph()).map((cycle) => cycle.map((file) => path.relative(SRC, file)).join(" → "));
  assert.deepEqual(found, []);
});

test("the cycle finder finds a cycle (positive control)", () => {
  const graph = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]]);
  assert.deepEqual(cycles(graph), [["a", "b", "c", "a"]]);
});

test("no module imports from a layer above its own", () => {
  const upward: string[] = [];
  for (const [file, targets] of importGraph()) {
    for (const target of targets) {
      if (layerOf(target) > layerOf(file)) upward.push(`${path.relative(SRC, file)} → ${path.relative(SRC, target)}`);
    }
  }
  assert.deepEqual(upward, []);
});
