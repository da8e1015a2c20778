// uWebSockets.js must run its native binary: the package silently falls back to a slow pure-JS server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { isNativeUws, loadUws } from "../src/http/uws.ts";
import { request, startTestServer } from "./support/server.ts";

test("the native uWS binary is loaded and reported", async () => {
  const loaded = loadUws();
  assert.equal(loaded.native, true, loaded.describe);
  assert.match(loaded.describe, /native binary uws_linux_x64_\d+\.node/);
  const nasty = await startTestServer();
  try {
    const reply = await request(nasty.url, "GET", "/api/status");
    assert.equal(reply.json.server.uws_native, true);
    assert.equal(reply.headers.get("uwebsockets"), "20", "answered by the uWS C++ server");
  } finally {
    await nasty.close();
  }
});

test("the fallback is recognised as such", () => {
  const script = `import { isNativeUws } from "./src/http/uws.ts"; import { createRequire } from "node:module";
    const uws = createRequire(import.meta.url)("uWebSockets.js"); console.log(JSON.stringify(isNativeUws(uws)));`;
  const output = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    env: { ...process.env, UWS_USE_FALLBACK: "true" },
    encoding: "utf8",
  });
  assert.equal(output.trim().split("\n").at(-1), "false");
  assert.equal(isNativeUws(loadUws().uws), true);
});
