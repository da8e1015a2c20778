// The settings table: defaults, bounds and clear refusals of bad environment values.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { ConfigError, loadConfig } from "../src/config.ts";
import { START_MS_MAX } from "./support/child-server.ts";

test("defaults are the documented ones (docs/deploy.md; test/docs.test.ts compares the whole table)", () => {
  const config = loadConfig({});
  assert.equal(config.port, 4000);
  assert.equal(config.host, "127.0.0.1");
  assert.match(config.dataDir, /\/data$/);
  assert.equal(config.signup, "open");
  assert.equal(config.wsMaxBackpressureBytes, 1024 * 1024);
  assert.equal(config.databaseUrl, "");
  assert.equal(config.trustProxy, false);
  assert.equal(config.passwordCostLog2, 17, "OWASP's scrypt minimum, N=2^17");
  assert.equal(config.passwordAttemptsPerAddressPerMinute, 30);
  assert.equal(config.logLevel, "info");
  assert.equal(config.logFormat, "text");
  assert.equal(config.accessLog, false);
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
    [{ NASTY_PASSWORD_COST_LOG2: "9" }, /NASTY_PASSWORD_COST_LOG2=9 is out of range 10\.\.20/],
    [{ NASTY_PASSWORD_COST_LOG2: "21" }, /NASTY_PASSWORD_COST_LOG2=21 is out of range 10\.\.20/],
    [{ NASTY_PASSWORD_ATTEMPTS_PER_ADDRESS: "-1" }, /NASTY_PASSWORD_ATTEMPTS_PER_ADDRESS=-1 is out of range/],
    [{ NASTY_FETCH: "yes" }, /NASTY_FETCH="yes" must be one of on, off/],
    [{ NASTY_FETCH_ALLOW_PRIVATE: "1" }, /NASTY_FETCH_ALLOW_PRIVATE="1" must be one of true, false/],
    [{ NASTY_LINK_CHECK_INTERVAL_S: "-5" }, /NASTY_LINK_CHECK_INTERVAL_S=-5 is out of range 0\.\.31536000/],
    [{ NASTY_LINK_CHECK_INTERVAL_S: "daily" }, /NASTY_LINK_CHECK_INTERVAL_S="daily" is not a whole number/],
  ];
  for (const [env, message] of cases) assert.throws(() => loadConfig(env), (error: unknown) => error instanceof ConfigError && message.test(error.message));
});

test("the server refuses to start on a bad setting, exit code 2 and the message on stderr", () => {
  const result = spawnSync(process.execPath, ["--import", "tsx", "src/main.ts"], { env: { ...process.env, PORT: "nope" }, encoding: "utf8", timeout: START_MS_MAX });
  assert.equal(result.status, 2);
  assert.match(result.stderr, /configuration error: PORT="nope" is not a whole number/);
});

test("cluster mode refuses to start without NASTY_NODE_ID set outright: its default would make a new node a second node 1", () => {
  const cluster = { NASTY_CLUSTER: "on", DATABASE_URL: "postgres://127.0.0.1/x", NASTY_CLUSTER_URL: "http://127.0.0.1:4000", NASTY_CLUSTER_SECRET: "cluster-test-secret-0123456789" };
  assert.throws(() => loadConfig(cluster), (error: unknown) => error instanceof ConfigError && /NASTY_CLUSTER=on needs NASTY_NODE_ID/.test(error.message));
  assert.equal(loadConfig({ ...cluster, NASTY_NODE_ID: "1" }).nodeId, 1, "set to its default value outright, it is accepted");
  assert.equal(loadConfig({}).nodeId, 1, "a single node keeps the default");
});
