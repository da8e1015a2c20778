// The fuzz test: a few thousand generated requests, malformed bytes and websocket frames against a real server process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FuzzFailure, runFuzz, summarize } from "./support/fuzz.ts";

/** Enough to reach every route and frame kind several times; `npm run fuzz -- --cases N` runs long. */
const CASES = 2500;

test(`fuzz: ${CASES} generated cases — no 5xx, nothing unanswered, the process alive, memory bounded`, async () => {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;
  console.log(`fuzz seed ${seed} (rerun: FUZZ_SEED=${seed}, or npm run fuzz -- --seed ${seed} --cases ${CASES})`);
  try {
    const report = await runFuzz({ seed, cases: CASES });
    console.log(summarize(report));
    const outcomes = [...report.counts.keys()].map((key) => key.split("\t"));
    const total = [...report.counts.values()].reduce((sum, count) => sum + count, 0);
    assert.equal(total, CASES, "every case ran and was counted");
    for (const endpoint of ["/ws", "/socket/websocket", "/live", "malformed"]) assert.ok(outcomes.some(([target]) => target === endpoint), `${endpoint} was fuzzed`);
    assert.ok(outcomes.some(([, , outcome]) => outcome === "200") && outcomes.some(([, , outcome]) => outcome === "201"), "some cases got through to a handler that read and wrote (positive control)");
    assert.ok(outcomes.some(([, , outcome]) => /^4\d\d$/.test(outcome ?? "")), "some cases were refused with a 4xx");
  } catch (error) {
    if (error instanceof FuzzFailure) console.error(error.message);
    throw error;
  }
});
