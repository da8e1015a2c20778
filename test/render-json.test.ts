// JSON rendering helpers: the cached ISO formatter agrees with Date#toISOString everywhere.
import { test } from "node:test";
import assert from "node:assert/strict";
import { isoTime } from "../src/render/json.ts";

test("isoTime equals toISOString, including millisecond padding and cache reuse", () => {
  const samples = [0, 1, 10, 999, 1000, 1795539114005, 1795539114050, 1795539114548, -1, -1000, 253402300799999];
  let state = 12345;
  for (let index = 0; index < 5000; index += 1) {
    state = (state * 1103515245 + 12345) % 2147483648;
    samples.push(Math.floor((state / 2147483648) * 4e12), 1795539114000 + (index % 1000));
  }
  for (const ms of samples) assert.equal(isoTime(ms), new Date(ms).toISOString(), `at ${ms}`);
});
