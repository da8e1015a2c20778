// The docs stay true: a short README whose curl example works, every setting in docs/deploy.md's table, every relative link pointing at something.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { SETTINGS } from "../src/config.ts";
import { request, startTestServer } from "./support/server.ts";
import { OpenApiChecker } from "./support/openapi.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const README_BYTES_MAX = 8192;

function read(file: string): string {
  return fs.readFileSync(path.join(ROOT, file), "utf8");
}

function filesUnder(folder: string, pattern: RegExp): string[] {
  return fs.readdirSync(path.join(ROOT, folder), { recursive: true, encoding: "utf8" })
    .filter((name) => pattern.test(name))
    .map((name) => path.join(folder, name));
}

/** Markdown without its fenced code blocks and code spans, where link syntax is only text. */
function prose(markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, "").replace(/`[^`\n]*`/g, "");
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const withoutCode = markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, "");
  for (const [, heading] of withoutCode.matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const slug = heading!.toLowerCase().replace(/[^\p{L}\p{N}\p{M} _-]/gu, "").replace(/ /g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

test("the README is under 8 KB", () => {
  const bytes = fs.statSync(path.join(ROOT, "README.md")).size;
  assert.ok(bytes < README_BYTES_MAX, `README.md is ${bytes} bytes; the limit is ${README_BYTES_MAX}: move details into docs/`);
});

/** Every environment variable the server reads: the settings table, and any read directly in src/. */
function variablesRead(): Set<string> {
  const names = new Set<string>(Object.values(SETTINGS).map((setting) => setting.env));
  for (const file of filesUnder("src", /\.(ts|mjs|js)$/)) {
    const source = read(file);
    for (const [, name] of source.matchAll(/process\.env(?:\.|\[\s*["'`])([A-Z][A-Z0-9_]*)/g)) names.add(name!);
    for (const [, name] of source.matchAll(/\benv(?:\.|\[\s*["'`])([A-Z][A-Z0-9_]*)/g)) names.add(name!);
  }
  return names;
}

/** The rows of docs/deploy.md's configuration table: variable → default cell. */
function configurationTable(): Map<string, string> {
  const deploy = read("docs/deploy.md");
  const section = deploy.slice(deploy.indexOf("\n## Configuration"), deploy.indexOf("\n## ", deploy.indexOf("\n## Configuration") + 1));
  const rows = new Map<string, string>();
  for (const [, name, fallback] of section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \| ([^|]*) \|/gm)) rows.set(name!, fallback!.trim());
  return rows;
}

test("every environment variable the server reads is in docs/deploy.md's configuration table, with its default", () => {
  const read = variablesRead();
  const table = configurationTable();
  assert.ok(read.size >= 20 && read.has("NASTY_TRUST_PROXY") && read.has("PORT"), `the variables were found (${[...read].join(", ")})`);
  assert.deepEqual([...read].filter((name) => !table.has(name)), [], "read by the server but missing from the table");
  assert.deepEqual([...table.keys()].filter((name) => !read.has(name)), [], "in the table but read nowhere");
  for (const setting of Object.values(SETTINGS)) {
    const expected = setting.default === "" ? "—" : `\`${setting.default}\``;
    assert.equal(table.get(setting.env), expected, `${setting.env}'s default in the table`);
  }
});

test("every relative link in the README and docs/ points at a file, and at a heading there", () => {
  const documents = ["README.md", ...filesUnder("docs", /\.md$/)];
  assert.ok(documents.length >= 5, documents.join(", "));
  const broken: string[] = [];
  let checked = 0;
  for (const document of documents) {
    for (const [, target] of prose(read(document)).matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?: "[^"]*")?\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target!)) continue;
      checked += 1;
      const [file, anchor] = target!.split("#") as [string, string | undefined];
      const resolved = file === "" ? path.join(ROOT, document) : path.resolve(path.dirname(path.join(ROOT, document)), decodeURIComponent(file));
      if (!fs.existsSync(resolved)) {
        broken.push(`${document}: ${target} (no file ${path.relative(ROOT, resolved)})`);
        continue;
      }
      if (anchor !== undefined && !anchorsOf(fs.readFileSync(resolved, "utf8")).has(anchor)) broken.push(`${document}: ${target} (no heading #${anchor})`);
    }
  }
  assert.ok(checked >= 30, `links were found (${checked})`);
  assert.deepEqual(broken, []);
});

test("docs/api.md's table names every operation of docs/openapi.yaml", () => {
  const api = read("docs/api.md");
  const operations = new OpenApiChecker().operations().map(({ method, template }) => `${method} ${template.replace(/\{([a-z_]+)\}/gi, ":$1")}`);
  assert.ok(operations.length >= 10, operations.join(", "));
  assert.deepEqual(operations.filter((operation) => !new RegExp(`\`${operation.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}[\`?]`).test(api)), [], "described in openapi.yaml but not in docs/api.md");
});

test("the link check sees a broken link and a broken anchor (positive control)", () => {
  const markdown = "# Title\n\nSee [this](#title), `[not a link](nowhere.md)` and\n```\n[nor this](x.md)\n```\n[a link](#missing)";
  assert.deepEqual([...prose(markdown).matchAll(/\[[^\]]*\]\(([^)]+)\)/g)].map((match) => match[1]), ["#title", "#missing"]);
  assert.deepEqual([...anchorsOf("## The pages' socket (`/live`, htmx)\n## Live: websockets\n## Live: websockets")], ["the-pages-socket-live-htmx", "live-websockets", "live-websockets-1"]);
});

test("the README's first steps work as written: sign-up, then the curl bookmark answers its URL exactly as given", async () => {
  const readme = read("README.md");
  const bodies = [...readme.matchAll(/-d '(\{.*?\})'/gs)].map((match) => JSON.parse(match[1]!.replace(/\s*\n\s*/g, " ")) as Record<string, any>);
  const signUp = bodies.find((body) => body.user);
  const bookmark = bodies.find((body) => body.bookmark);
  assert.ok(signUp && bookmark, "the README has a sign-up and a bookmark example");
  assert.equal(bookmark.bookmark.url, "https://example.com");
  const nasty = await startTestServer();
  try {
    const account = await request(nasty.url, "POST", "/api/users", { body: signUp });
    assert.equal(account.status, 201);
    assert.deepEqual(account.json.user, { username: signUp.user.username });
    const created = await request(nasty.url, "POST", "/api/bookmarks", { token: account.json.token, body: bookmark });
    assert.equal(created.status, 201);
    assert.equal(created.json.bookmark.data.url, "https://example.com", "the URL exactly as given");
    for (const [field, value] of Object.entries(bookmark.bookmark)) assert.deepEqual(created.json.bookmark.data[field], value, field);
    assert.match(readme, new RegExp(`"url":"https://example\\.com","public":true,"tags":\\["example"\\],"unread":false,"user":"${signUp.user.username}"`), "the README shows the answer as it comes");
    const again = await request(nasty.url, "POST", "/api/bookmarks", { token: account.json.token, body: { bookmark: { ...bookmark.bookmark, url: "https://www.example.com/#top" } } });
    assert.equal(again.status, 409, "the README says another form of the URL is a duplicate");
    assert.deepEqual({ id: again.json.id, url: again.json.url }, { id: created.json.bookmark.data.id, url: "https://example.com" });
  } finally {
    await nasty.close();
  }
});
