// `npm run extension:pack`: the zip for the Chrome Web Store holds exactly the extension's files, byte for byte,
// reproducibly, with no broader permissions than it needs; Chromium loads what it unpacks to; the JS type-checks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { chromium } from "playwright-core";
import { checkManifest, extensionFiles, packExtension } from "../extension/pack.ts";
import { tempDir } from "./support/server.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const EXTENSION_DIR = path.join(ROOT, "extension");
const CHROMIUM = "/usr/bin/chromium";
/** What lives in extension/ but is tooling, not extension. */
const TOOLING = new Set(["pack.ts", "tsconfig.json", ".gitignore", "build"]);

/** Reads a zip through its central directory, checking every entry's CRC-32 and size. */
function unzip(bytes: Buffer): Map<string, Buffer> {
  const end = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(end >= 0, "an end-of-central-directory record");
  const count = bytes.readUInt16LE(end + 10);
  let cursor = bytes.readUInt32LE(end + 16);
  assert.equal(cursor + bytes.readUInt32LE(end + 12), end, "the central directory ends where the end record starts");
  const entries = new Map<string, Buffer>();
  for (let index = 0; index < count; index += 1) {
    assert.equal(bytes.readUInt32LE(cursor), 0x02014b50, `central header ${index}`);
    const method = bytes.readUInt16LE(cursor + 10);
    const crc = bytes.readUInt32LE(cursor + 16);
    const packedSize = bytes.readUInt32LE(cursor + 20);
    const size = bytes.readUInt32LE(cursor + 24);
    const nameLength = bytes.readUInt16LE(cursor + 28);
    const skipped = bytes.readUInt16LE(cursor + 30) + bytes.readUInt16LE(cursor + 32);
    const local = bytes.readUInt32LE(cursor + 42);
    const name = bytes.subarray(cursor + 46, cursor + 46 + nameLength).toString("utf8");
    assert.equal(bytes.readUInt32LE(local), 0x04034b50, `local header of ${name}`);
    const start = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
    const raw = bytes.subarray(start, start + packedSize);
    assert.ok(method === 0 || method === 8, `${name}: stored or deflated, not method ${method}`);
    const data = method === 8 ? zlib.inflateRawSync(raw) : raw;
    assert.equal(data.length, size, `${name}: size`);
    assert.equal(zlib.crc32(data), crc, `${name}: CRC-32`);
    entries.set(name, data);
    cursor += 46 + nameLength + skipped;
  }
  return entries;
}

/** Every file under extension/ but the tooling, listed independently of the packer. */
function sourceFiles(): string[] {
  return (fs.readdirSync(EXTENSION_DIR, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(EXTENSION_DIR, path.join(entry.parentPath, entry.name)).split(path.sep).join("/"))
    .filter((name) => !TOOLING.has(name.split("/")[0]!))
    .sort();
}

test("the zip holds exactly the extension's files, byte for byte, and packing twice gives the same bytes", () => {
  const first = packExtension({ outFile: path.join(tempDir(), "first.zip") });
  const second = packExtension({ outFile: path.join(tempDir(), "second.zip") });
  const bytes = fs.readFileSync(first.file);
  assert.deepEqual(bytes, fs.readFileSync(second.file));
  const entries = unzip(bytes);
  assert.deepEqual([...entries.keys()].sort(), sourceFiles());
  for (const required of ["manifest.json", "background.js", "popup.html", "popup.js", "options.html", "options.js", "icons/icon128.png"]) assert.ok(entries.has(required), required);
  for (const [name, data] of entries) assert.deepEqual(data, fs.readFileSync(path.join(EXTENSION_DIR, name)), name);
  assert.match(entries.get("popup.html")!.toString("utf8"), /<textarea id="notes" name="notes"/, "the popup's notes field is packed");
  assert.match(entries.get("popup.js")!.toString("utf8"), /notes: notesInput\.value/, "and the code that sends it");
  assert.ok(bytes.length < sourceFiles().reduce((sum, name) => sum + fs.statSync(path.join(EXTENSION_DIR, name)).size, 0), "the text is deflated");
});

test("the manifest asks for no more than it needs: no host access until the person grants their server's", () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(EXTENSION_DIR, "manifest.json"), "utf8"));
  assert.equal(manifest.manifest_version, 3);
  assert.equal(manifest.name, "Nasty Bookmarker");
  assert.deepEqual([...manifest.permissions].sort(), ["activeTab", "contextMenus", "scripting", "storage"]);
  assert.equal(manifest.host_permissions, undefined);
  assert.equal(manifest.content_scripts, undefined);
  assert.deepEqual(manifest.optional_host_permissions, ["http://*/*", "https://*/*"]);
  assert.ok(manifest.commands._execute_action.suggested_key.default);
});

test("a manifest pointing at a missing file, or not MV3, is refused with the reason", () => {
  const files = extensionFiles();
  assert.throws(() => checkManifest(files.filter((file) => file.name !== "icons/icon128.png")), /manifest\.json refers to files that are not there: icons\/icon128\.png/);
  const manifest = JSON.parse(files.find((file) => file.name === "manifest.json")!.data.toString("utf8"));
  const withVersion = (changes: Record<string, unknown>) => files.map((file) => (file.name === "manifest.json" ? { name: file.name, data: Buffer.from(JSON.stringify({ ...manifest, ...changes })) } : file));
  assert.throws(() => checkManifest(withVersion({ manifest_version: 2 })), /"manifest_version": 3, not 2/);
  assert.throws(() => checkManifest(withVersion({ version: "1.0-beta" })), /version must be 1 to 4 dot-separated numbers/);
});

test("npm run extension:pack writes the zip, and refuses unknown arguments", () => {
  const out = path.join(tempDir(), "store.zip");
  const run = spawnSync("npm", ["run", "--silent", "extension:pack", "--", "--out", out], { cwd: ROOT, encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, new RegExp(`wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: \\d+ files, \\d+ bytes`));
  assert.ok(unzip(fs.readFileSync(out)).has("manifest.json"));
  const wrong = spawnSync("npm", ["run", "--silent", "extension:pack", "--", "--zip"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /cannot pack: unexpected arguments '--zip'; usage: npm run extension:pack \[-- --out FILE\]/);
});

test("the extension's JavaScript type-checks against Chrome's API types", () => {
  const run = spawnSync(path.join(ROOT, "node_modules/.bin/tsc"), ["-p", path.join(EXTENSION_DIR, "tsconfig.json")], { cwd: ROOT, encoding: "utf8" });
  assert.equal(run.status, 0, run.stdout + run.stderr);
});

const missing = !fs.existsSync(CHROMIUM);
if (missing && process.env.CI === "true") throw new Error(`${CHROMIUM} is missing; CI must run the browser suite (apt-get install chromium)`);
if (missing) console.log(`# extension zip load skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

test("Chromium loads the extension unpacked from the zip", { skip: missing ? `${CHROMIUM} is not installed` : false, timeout: 60_000 }, async () => {
  const unpacked = tempDir("nasty-extension-zip-");
  for (const [name, data] of unzip(fs.readFileSync(packExtension({ outFile: path.join(tempDir(), "load.zip") }).file))) {
    fs.mkdirSync(path.dirname(path.join(unpacked, name)), { recursive: true });
    fs.writeFileSync(path.join(unpacked, name), data);
  }
  const context = await chromium.launchPersistentContext(tempDir("nasty-chromium-"), {
    executablePath: CHROMIUM,
    headless: false,
    ignoreDefaultArgs: ["--disable-extensions"],
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", `--disable-extensions-except=${unpacked}`, `--load-extension=${unpacked}`],
  });
  try {
    const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent("serviceworker"));
    assert.match(worker.url(), /^chrome-extension:\/\/[a-p]{32}\/background\.js$/);
    const loaded = await worker.evaluate(async () => {
      const chrome = (globalThis as any).chrome;
      // The menu item is created on install, just after the worker starts.
      let created = false;
      for (let attempt = 0; attempt < 100 && !created; attempt += 1) {
        created = await chrome.contextMenus.update("nasty-save-link", {}).then(() => true, () => new Promise((resolve) => setTimeout(() => resolve(false), 50)));
      }
      if (!created) throw new Error("no 'Save link to Nasty' menu item");
      return { name: chrome.runtime.getManifest().name, commands: await chrome.commands.getAll() };
    });
    assert.equal(loaded.name, "Nasty Bookmarker");
    assert.deepEqual(loaded.commands.map((command: any) => [command.name, command.shortcut]), [["_execute_action", "Alt+Shift+S"]]);
    // Freshly installed, the popup asks for the options first; opened in a tab of its own, it does not bookmark itself.
    const popup = await context.newPage();
    await popup.goto(`chrome-extension://${new URL(worker.url()).host}/popup.html`);
    await popup.waitForSelector("#setup:not([hidden])");
    assert.equal(await popup.textContent("#setup-text"), "Set your Nasty server and API token first.");
    assert.equal(await popup.isDisabled("#save"), true);
    assert.equal(await popup.inputValue("#url"), "");
    // The packed popup is the current one: it has the notes field, labelled, bounded like the server's notes.
    assert.equal(await popup.locator("textarea#notes").getAttribute("maxlength"), "10000");
    assert.match((await popup.locator('label[for="notes"]').textContent()) ?? "", /^Notes/);
    assert.equal(await popup.inputValue("#notes"), "");
  } finally {
    await context.close();
  }
});
