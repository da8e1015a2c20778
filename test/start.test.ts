// Where it runs: `npm start` is the server (signals stop it, nothing orphaned), the data-directory lock dies with its process, no pure-JS fallback.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { processesOnDataDir, spawnServer, START_MS_MAX, startChildServer } from "./support/child-server.ts";
import { request, signUp, startTestServer, tempDir } from "./support/server.ts";

/** A clean stop leaves within this bound: a supervisor sends SIGKILL about 10 s after SIGTERM. */
const STOP_MS_MAX = 10_000;

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** The data directory is free: a server starts on it, finds what the last one wrote, and stops. */
async function assertFreeWith(dataDir: string, username: string): Promise<void> {
  const next = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    assert.ok([...next.store.usersById.values()].some((user) => user.username === username), `${username} survived the stop`);
  } finally {
    await next.close();
  }
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`${signal} to the process \`npm start\` started stops the server within 10 s, leaves no process behind and frees the data directory`, async () => {
    const dataDir = tempDir();
    const server = await startChildServer(dataDir, { via: "npm" });
    await signUp(server.url, "signalled");
    assert.ok(processesOnDataDir(dataDir).includes(server.child.pid!), "the process npm start runs is found by its environment (positive control)");
    server.child.kill(signal);
    try {
      const exit = await within(server.exited, STOP_MS_MAX, `stopping after ${signal}`);
      assert.equal(exit.code, 0, `a clean exit: ${server.output()}`);
      assert.match(server.output(), new RegExp(`${signal}: finishing pending writes and stopping`), "the server itself got the signal");
      assert.deepEqual(processesOnDataDir(dataDir), [], "no orphan holds the data directory");
    } finally {
      for (const pid of processesOnDataDir(dataDir)) process.kill(pid, "SIGKILL"); // a failed run leaves no orphan either
    }
    await assertFreeWith(dataDir, "signalled");
  });
}

test("SIGTERM while the server is still starting stops it cleanly once started, never by the default action", async () => {
  const dataDir = tempDir();
  const attempt = spawnServer(dataDir);
  // The first line comes from startNasty, before it listens: a signal now arrives mid-start.
  await within(new Promise<void>((resolve) => attempt.child.stdout!.on("data", () => /native binary/.test(attempt.output()) && resolve())), START_MS_MAX, "the first start line");
  attempt.child.kill("SIGTERM");
  const exit = await within(attempt.exited, START_MS_MAX, "stopping after a SIGTERM during start");
  assert.deepEqual(exit, { code: 0, signal: null }, `a clean exit, not a kill: ${attempt.output()}`);
  assert.match(attempt.output(), /SIGTERM: finishing pending writes and stopping/);
  assert.deepEqual(processesOnDataDir(dataDir), [], "no orphan holds the data directory");
  const next = await startTestServer({ NASTY_DATA_DIR: dataDir }); // the lock was released: the directory is free again
  await next.close();
});

test("kill -9: the lock dies with the process and a new server starts on the same directory at once", async () => {
  const dataDir = tempDir();
  const server = await startChildServer(dataDir);
  await signUp(server.url, "killed");
  server.child.kill("SIGKILL");
  assert.equal((await server.exited).signal, "SIGKILL");
  const lockFiles = fs.readdirSync(dataDir).filter((name) => name.includes("lock"));
  assert.ok(lockFiles.length > 0, "the lock file is left behind, and does not matter");
  await assertFreeWith(dataDir, "killed");
});

test("a second server on a directory in use refuses with a clear message, and the first keeps serving", async () => {
  const dataDir = tempDir();
  const first = await startChildServer(dataDir);
  try {
    const second = spawnServer(dataDir);
    const exit = await within(second.exited, START_MS_MAX, "the refusal");
    assert.equal(exit.code, 2);
    assert.match(second.output(), new RegExp(`cannot start: ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is in use by a running Nasty server`));
    await assert.rejects(startTestServer({ NASTY_DATA_DIR: dataDir }), /in use by a running Nasty server/);
    assert.equal((await request(first.url, "GET", "/api/status")).status, 200);
  } finally {
    first.child.kill("SIGTERM");
    await first.exited;
  }
});

test("a second server on a port in use refuses with a clear message instead of sharing it, and the first answers every request", async () => {
  const first = await startChildServer(tempDir());
  try {
    const token = await signUp(first.url, "first");
    const port = new URL(first.url).port;
    const second = spawnServer(tempDir(), { env: { PORT: port } });
    const outcome = await within(Promise.race([second.exited, second.listening.then(() => "listening" as const, () => second.exited)]), START_MS_MAX, "the second server's start");
    if (outcome === "listening") second.child.kill("SIGKILL");
    assert.deepEqual(outcome, { code: 2, signal: null }, `the second server refuses the port: ${second.output()}`);
    assert.match(second.output(), new RegExp(`cannot start: cannot listen on 127\\.0\\.0\\.1:${port} \\(in use or not allowed\\)`));
    // Each request a new connection: had the port been shared, the kernel would hand some to the second server, which knows no such user.
    for (let attempt = 0; attempt < 20; attempt += 1) {
      assert.equal((await request(first.url, "GET", "/api/me", { token, headers: { connection: "close" } })).status, 200, `request ${attempt} reached the first server`);
    }
  } finally {
    first.child.kill("SIGTERM");
    await first.exited;
  }
});

/** A preload that makes every uWebSockets.js native binary fail to load, as on a Node without a build for its ABI. */
function brokenBinaryPreload(): string {
  const file = path.join(tempDir(), "no-native-uws.cjs");
  fs.writeFileSync(file, `const Module = require("node:module");
const load = Module._extensions[".node"];
Module._extensions[".node"] = function (module, filename) {
  if (/uws_[^/]*\\.node$/.test(filename)) throw new Error("simulated: " + filename + " was compiled against a different Node.js version");
  return load.call(this, module, filename);
};
`);
  return file;
}

test("without the native uWS binary the server refuses to start at once, saying why and what to do", async () => {
  const cases = [
    { what: "the binary fails to load", options: { nodeFlags: ["--require", brokenBinaryPreload()] }, why: /the native uWebSockets\.js binary did not load on Node \d+\.\d+\.\d+ \(ABI \d+/ },
    { what: "UWS_USE_FALLBACK forces the fallback", options: { env: { UWS_USE_FALLBACK: "true" } }, why: /UWS_USE_FALLBACK is set/ },
  ];
  for (const { what, options, why } of cases) {
    const dataDir = tempDir();
    const attempt = spawnServer(dataDir, options);
    const exit = await within(attempt.exited, START_MS_MAX, `the refusal when ${what}`);
    assert.equal(exit.code, 2, `${what}: ${attempt.output()}`);
    const output = attempt.output();
    assert.match(output, why, what);
    assert.match(output, /Nasty does not run on the fallback\. Use Node 20/, what);
    assert.match(output, /npm install uWebSockets\.js@github:uNetworking\/uWebSockets\.js#v20\.55\.0/, what);
    assert.doesNotMatch(output, /listening on/, `${what}: never serves on the fallback`);
    assert.deepEqual(fs.readdirSync(dataDir), [], `${what}: refused before touching the data directory`);
  }
  const healthy = await startChildServer(tempDir());
  healthy.child.kill("SIGTERM");
  assert.equal((await healthy.exited).code, 0, "the same start without the preload serves (positive control)");
});
