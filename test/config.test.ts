// The settings table: defaults, bounds and clear refusals of bad environment values.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { ConfigError, loadConfig } from "../src/config.ts";

test("defaults match the README", () => {
  const config = loadConfig({});
  assert.equal(config.port, 4000);
  assert.equal(config.host, "127.0.0.1");
  assert.match(config.dataDir, /\/data$/);
  assert.equal(config.signup, "open");
  assert.equal(config.wsMaxBackpressureBytes, 1024 * 1024);
  assert.equal(config.databaseUrl, "");
  assert.equal(loadConfig({ SIMULATE_TRAFFIC: "true" }).simulateRate, 1, "the original's switch gives a gentle rate");
});

test("bad values are refused with a message naming the variable", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ PORT: "http" }, /PORT="http" is not a whole number/],
    [{ PORT: "70000" }, /PORT=70000 is out of range 0\.\.65535/],
    [{ NASTY_SIGNUP: "maybe" }, /NASTY_SIGNUP="maybe" must be one of open, closed/],
    [{ NASTY_RATE_LIMIT: "-1" }, /NASTY_RATE_LIMIT=-1 is out of range/],
    [{ DATABASE_URL: "mysql://x" }, /DATABASE_URL="mysql:\/\/x" is not a postgres:\/\/ URL/],
    [{ NASTY_DATADIR: "/tmp" }, /unknown setting NASTY_DATADIR/],
  ];
  for (const [env, message] of cases) assert.throws(() => loadConfig(env), (error: unknown) => error instanceof ConfigError && message.test(error.message));
});

test("the server refuses to start on a bad setting, exit code 2 and the message on stderr", () => {
  const result = spawnSync(process.execPath, ["--import", "tsx", "src/main.ts"], { env: { ...process.env, PORT: "nope" }, encoding: "utf8", timeout: 20_000 });
  assert.equal(result.status, 2);
  assert.match(result.stderr, /configuration error: PORT="nope" is not a whole number/);
});
