// The bench's smallest run (`--smoke`) in CI: it runs every step and writes its JSON, table and chart. Never its speed.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import type { BenchResults, Figure } from "../bench/report.ts";
import { frameCpuPart, splitCpuProfile, type CpuProfile } from "../bench/cpu-profile.ts";
import { tempDir } from "./support/server.ts";

const ROOT = path.resolve(import.meta.dirname, "..");

function runBench(out: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "bench/run.ts", "--smoke", "--out", out, ...args], { cwd: ROOT, timeout: 360_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

function measured(figure: Figure | undefined, id: string): Figure {
  assert.ok(figure, `figure ${id} is in the results`);
  assert.ok(typeof figure.value === "number" && Number.isFinite(figure.value) && figure.value !== 0, `${id} has a value: ${JSON.stringify(figure)}`);
  return figure;
}

test("npm run bench -- --smoke runs every step and writes its results", { timeout: 380_000 }, async (t) => {
  const out = tempDir("nasty-bench-test-");
  t.after(() => fs.rmSync(out, { recursive: true, force: true }));
  const { code, stdout, stderr } = await runBench(out);
  assert.equal(code, 0, `the bench failed:\n${stdout}\n${stderr}`);

  const files = fs.readdirSync(out);
  const jsonFiles = files.filter((file) => file.endsWith(".json"));
  assert.equal(jsonFiles.length, 1, `one results file in ${files.join(", ")}`);
  const results = JSON.parse(fs.readFileSync(path.join(out, jsonFiles[0]!), "utf8")) as BenchResults;
  assert.equal(results.version, 1);
  assert.equal(results.mode, "smoke");
  assert.ok(results.machine.cpus > 0 && ["wrk", "node"].includes(results.machine.loadClient));
  assert.equal(results.machine.uwsNative, true, "the server under test ran native uWS");

  assert.deepEqual(
    results.micro.map((task) => task.name.split(":")[0]),
    ["validation", "store apply", "feed query", "fragment render", "notes render", "event encode", "event decode", "metrics hooks"],
  );
  assert.match(results.micro[3]!.name, /HTML card/);

  for (const task of results.micro) assert.ok(task.opsPerSecond > 0 && task.meanNs > 0 && task.samples > 0, `micro ${task.name} measured`);

  const byId = new Map(results.figures.map((figure) => [figure.id, figure]));
  for (const id of ["create", "feed-json"]) {
    const figure = measured(byId.get(id), id);
    assert.equal(figure.unit, "req/s");
    assert.ok(figure.ceiling! > 0 && figure.ratio! > 0, `${id} has a ceiling and a ratio`);
    assert.deepEqual(figure.target, { kind: "ratio-min", value: 0.5 });
    assert.equal(typeof figure.pass, "boolean");
  }
  for (const id of ["capacity-restart-2000", "capacity-kill-2000", "capacity-rss-2000", "capacity-heap-2000", "capacity-feed-p99-2000"]) measured(byId.get(id), id);
  assert.ok(byId.has("capacity-tail-replay"), "the log tail replay figure is reported");
  for (const id of ["cluster-latency-50-p50", "cluster-latency-50-p99", "cluster-creates-leader", "cluster-creates-follower", "cluster-fanout", "cluster-fanout-p99", "cluster-unavailable-sigstop", "cluster-unavailable"]) measured(byId.get(id), id);
  const replay = measured(byId.get("replay"), "replay");
  assert.equal(replay.details.events, 5000);
  assert.ok(replay.ceiling! > 0);
  const memory = measured(byId.get("memory"), "memory");
  assert.deepEqual(memory.target, { kind: "value-max", value: 1024 });
  assert.ok(memory.value! > 0, "a bookmark weighs something");
  measured(byId.get("search-p99"), "search-p99");
  const section = measured(byId.get("search-section-load"), "search-section-load");
  assert.ok(Number(section.details.section_bytes) > 0, "the search index was written as a section and read back");

  const cpu = measured(byId.get("create-cpu"), "create-cpu");
  assert.ok(cpu.ceiling! > 0, "the bare POST's CPU per request was measured");
  const parts = cpu.details.parts as Record<string, number>;
  for (const part of ["HTTP", "JSON", "validation", "auth", "log hand-off", "apply", "search", "fragments", "publish", "GC"]) assert.equal(typeof parts[part], "number", `the split has ${part}`);
  const summed = Object.values(parts).reduce((sum, micros) => sum + micros, 0);
  assert.ok(Math.abs(summed - cpu.value!) < 0.01 * cpu.value!, `the parts (${summed}) add up to the CPU per create (${cpu.value})`);
  assert.ok(parts.HTTP! > 0 && parts.apply! > 0, `the profile saw the HTTP layer and the store: ${JSON.stringify(parts)}`);
  const reference = measured(byId.get("feed-html-string"), "feed-html-string");
  assert.equal(reference.target, null, "the string-answering ceiling is a reference row, not a target");
  assert.match(byId.get("feed-html")!.ceilingName!, /bytes/);

  for (const id of ["feed-html", "fanout-20", "fanout-100"]) {
    const figure = measured(byId.get(id), id);
    assert.ok(figure.ceiling! > 0 && figure.ratio! > 0, `${id} has a ceiling and a ratio`);
  }
  assert.equal((byId.get("feed-html")!.details.answer as { items: number }).items, 50, "the HTML feed page shows 50 bookmarks");
  for (const id of ["latency-p50", "latency-p99"]) {
    const figure = byId.get(id);
    assert.ok(figure && typeof figure.value === "number" && typeof figure.ceiling === "number", `${id} measured: ${JSON.stringify(figure)}`);
    assert.ok((figure.details.nasty as { samples: number }).samples > 0, `${id} timed some pushes`);
  }
  const storm = measured(byId.get("resume-storm"), "resume-storm");
  assert.ok(storm.ceiling! > 0 && storm.ratio! > 0, "the resume storm has its bare-uWS ceiling");
  assert.equal(storm.details.resyncs, 0, "every subscriber of the storm caught up from the history");
  assert.ok((storm.details.bytesPerSubscriber as number) > 0, "the storm replayed bytes");
  assert.ok(measured(byId.get("resume-storm-rss"), "resume-storm-rss").value! > 0);
  for (const figure of results.figures) assert.ok(!figure.note?.startsWith("failed"), `${figure.id} did not fail: ${figure.note}`);

  assert.match(stdout, /\| figure \| value \| ceiling \| ratio \| target \| result \|/);
  for (const figure of results.figures) assert.ok(stdout.includes(`| ${figure.name} |`), `the table has a row for ${figure.name}`);
  const svg = fs.readFileSync(path.join(out, "latest.svg"), "utf8");
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  const charted = results.figures.filter((figure) => figure.value !== null && figure.target !== null);
  assert.equal((svg.match(/<rect x=/g) ?? []).length, charted.length, "one bar per figure with a target");
});

test("without wrk the bench loads the servers from its own Node client", { timeout: 120_000 }, async (t) => {
  const out = tempDir("nasty-bench-test-");
  t.after(() => fs.rmSync(out, { recursive: true, force: true }));
  const { code, stdout, stderr } = await runBench(out, "--only", "create,feed", "--client", "node");
  assert.equal(code, 0, `the bench failed:\n${stdout}\n${stderr}`);
  const [file] = fs.readdirSync(out).filter((name) => name.endsWith(".json"));
  const results = JSON.parse(fs.readFileSync(path.join(out, file!), "utf8")) as BenchResults;
  assert.equal(results.machine.loadClient, "node");
  assert.deepEqual(results.micro, []);
  assert.deepEqual(results.figures.map((figure) => figure.id), ["create", "feed-json"]);
  for (const figure of results.figures) {
    measured(figure, figure.id);
    assert.equal(figure.details.client, "node");
    assert.ok(figure.ceiling! > 0 && figure.note?.includes("server CPU per request"), `${figure.id}: ${figure.note}`);
  }
  assert.ok(!results.figures[0]!.note!.includes("failed"), "every create was acknowledged with a 201");
});

test("a CPU profile is summed by part: the nearest frame with a part, leaf first, inside the window", () => {
  const root = "/repo";
  const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({ id, callFrame: { functionName, url }, children });
  const profile: CpuProfile = {
    nodes: [
      frame(1, "(root)", "", [2, 6, 7]),
      frame(2, "handler", "file:///repo/src/http/router.ts", [3, 5]),
      frame(3, "createBookmark", "file:///repo/src/store/store.ts", [4]),
      frame(4, "set", ""),
      frame(5, "jsonBody", "file:///repo/src/http/router.ts"),
      frame(6, "(garbage collector)", ""),
      frame(7, "(idle)", ""),
    ],
    startTime: 1000,
    endTime: 1100,
    // One sample every 10 µs; the first (at 1000) and the last (at 1090) fall outside the window.
    samples: [4, 4, 3, 2, 5, 6, 7, 7, 4, 4],
    timeDeltas: [0, 10, 10, 10, 10, 10, 10, 10, 10, 10],
  };
  const split = splitCpuProfile(profile, root, 1005, 1085);
  assert.equal(split.samples, 8);
  assert.equal(split.idleMicros, 20);
  assert.equal(split.busyMicros, 60);
  assert.equal(split.shares.apply, 3 / 6, "a builtin called from the store counts to the store, like the store's own time");
  assert.equal(split.shares.HTTP, 1 / 6);
  assert.equal(split.shares.JSON, 1 / 6);
  assert.equal(split.shares.GC, 1 / 6);
  assert.equal(split.top[0]!.frame, "set ");
  assert.equal(split.top[0]!.part, "apply");
  assert.equal(frameCpuPart("validate", "file:///repo/node_modules/superstruct/dist/index.mjs", root), "validation");
  assert.equal(frameCpuPart("publish", "file:///repo/src/realtime/publisher.ts", root), "publish");
  assert.equal(frameCpuPart("renderCard", "file:///repo/src/render/html.ts", root), "fragments");
  assert.equal(frameCpuPart("emit", "node:events", root), null, "node internals count to their caller");
});
