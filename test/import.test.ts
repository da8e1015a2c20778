// Netscape import and export: an independent generator's file, a browser export with folders and bad entries, round trips.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { createBookmark, request, signUp, startTestServer } from "./support/server.ts";
import type { Nasty } from "../src/main.ts";
import { NetscapeReader, parseAddDate, type NetscapeEntry } from "../src/interop/netscape.ts";
import { IMPORT_BYTES_MAX } from "../src/interop/transfer.ts";
import { SpillFile } from "../src/interop/spill.ts";
import fs from "node:fs";
import net from "node:net";

/** Sends a request with headers fetch would not send as given (a Content-Length the body does not match); returns the raw answer. */
function rawPost(port: number, path: string, headers: Record<string, string>, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      const head = Object.entries({ host: `127.0.0.1:${port}`, ...headers }).map(([name, value]) => `${name}: ${value}\r\n`).join("");
      socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n${body}`);
    });
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (data) => {
      answer += data;
      if (/\r\n\r\n[\s\S]*\}/.test(answer)) socket.destroy();
    });
    socket.on("close", () => resolve(answer));
    socket.on("error", reject);
  });
}

const require = createRequire(import.meta.url);
/** The npm package `netscape-bookmarks`: an independent writer of the format (it does not escape titles). */
const netscape = require("netscape-bookmarks") as (bookmarks: Record<string, unknown>) => string;

/** A browser-style export (Firefox/Chrome shape): root folders, nested folders, a separator, odd entries. */
const BROWSER_EXPORT = `<!DOCTYPE NETSCAPE-Bookmark-file-1>
<!-- This is an automatically generated file.
     It will be read and overwritten.
     DO NOT EDIT! -->
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'self'; script-src 'none'; img-src data: *; object-src 'none'"></meta>
<TITLE>Bookmarks</TITLE>
<H1>Bookmarks Menu</H1>

<DL><p>
    <DT><H3 ADD_DATE="1600000000" LAST_MODIFIED="1600000100" PERSONAL_TOOLBAR_FOLDER="true">Bookmarks Toolbar</H3>
    <DL><p>
        <DT><A HREF="https://toolbar.example/" ADD_DATE="1600000001" LAST_MODIFIED="1600000002" ICON_URI="https://toolbar.example/favicon.ico" ICON="data:image/png;base64,iVBORw0KGgo=">On the toolbar</A>
        <DT><H3 ADD_DATE="1600000000" LAST_MODIFIED="1600000100">Dev Tools</H3>
        <DL><p>
            <DT><A HREF="https://developer.mozilla.org/en-US/" ADD_DATE="1600000010" LAST_MODIFIED="1600000011" TAGS="docs,Web">MDN Web Docs</A>
            <DD>Resources for &lt;developers&gt;, by developers &amp; friends
            <DT><H3 ADD_DATE="1600000000" LAST_MODIFIED="1600000100">Rust, &amp; more</H3>
            <DL><p>
                <DT><A HREF="https://doc.rust-lang.org/book/" ADD_DATE="1600000020">The Book</A>
                <DT><A HREF="javascript:alert(1)" ADD_DATE="1600000021">A bookmarklet</A>
            </DL><p>
            <HR>
            <DT><A HREF="https://crates.io/" ADD_DATE="1600000030"></A>
        </DL><p>
    </DL><p>
    <DT><A HREF="place:sort=8&maxResults=10" ADD_DATE="1600000040">Recent Tags</A>
    <DT><A HREF="https://caf&#233;.example/men&uuml;?a=1&amp;b=2" ADD_DATE="1600000050" LAST_MODIFIED="1600000051">Caf&eacute; &#x2615;
      menu</A>
    <DT><H3 UNFILED_BOOKMARKS_FOLDER="true">Other Bookmarks</H3>
    <DL><p>
        <DT><A HREF="https://unfiled.example/" ADD_DATE="1600000060">Unfiled one</A>
    </DL><p>
</DL>
`;

function readAll(text: string, chunkSize: number): { entries: NetscapeEntry[]; problems: string[] } {
  const entries: NetscapeEntry[] = [];
  const problems: string[] = [];
  const reader = new NetscapeReader((entry) => entries.push(entry), (line, message) => problems.push(`${line}: ${message}`));
  for (let start = 0; start < text.length; start += chunkSize) reader.write(text.slice(start, start + chunkSize));
  reader.end();
  return { entries, problems };
}

describe("the Netscape reader", () => {
  test("reads a browser export the same whatever the chunk size", () => {
    const whole = readAll(BROWSER_EXPORT, BROWSER_EXPORT.length);
    for (const size of [1, 2, 7, 64, 333]) assert.deepEqual(readAll(BROWSER_EXPORT, size), whole, `chunks of ${size}`);
    const byTitle = new Map(whole.entries.map((entry) => [entry.title, entry]));
    assert.deepEqual(byTitle.get("MDN Web Docs"), {
      line: 17, href: "https://developer.mozilla.org/en-US/", title: "MDN Web Docs",
      description: "Resources for <developers>, by developers & friends", notes: "", tags: ["docs", "Web"], folders: ["Dev Tools"],
      addDateMs: 1_600_000_010_000, private: null, toRead: false,
    });
    assert.deepEqual(byTitle.get("The Book")!.folders, ["Dev Tools", "Rust, & more"]);
    assert.deepEqual(byTitle.get("On the toolbar")!.folders, [], "browser root folders are not folders of the user's");
    assert.deepEqual(byTitle.get("Unfiled one")!.folders, []);
    assert.equal(byTitle.get("Café ☕ menu")!.href, "https://café.example/menü?a=1&b=2");
    assert.deepEqual(byTitle.get("")!.folders, ["Dev Tools"], "the folder after a nested one closes is the outer one again");
  });

  test("entities are decoded as a browser decodes them: the full HTML5 table, 0x80–0x9F by Windows-1252, attributes left alone before = ", () => {
    const file = `<DL><p>
<DT><A HREF="https://entities.example/?a=1&copy=2&amp;b=&lt;3&gt;" TAGS="caf&eacute;,&Omega;">&rarr; &hearts; &Omega; &#150; &#x97; &#128; &amp; &notin; &notit; &zzz; &#0; &#xD800;</A>
<DD>&lsquo;quoted&rsquo; &hellip; &nbsp;&zopf; &#x1F600;
</DL><p>`;
    const [entry] = readAll(file, 7).entries;
    assert.equal(entry?.title, "→ ♥ Ω – — € & ∉ ¬it; &zzz; \uFFFD \uFFFD", "as in a browser: &notit; is the legacy &not, an unknown name stays");
    assert.equal(entry?.href, "https://entities.example/?a=1&copy=2&b=<3>", "in an attribute, &copy followed by = stays as written");
    assert.deepEqual(entry?.tags, ["café", "Ω"]);
    assert.equal(entry?.description, "‘quoted’ … \u00a0𝕫 😀");
  });

  test("ADD_DATE in seconds, milliseconds or microseconds", () => {
    assert.equal(parseAddDate("1600000000"), 1_600_000_000_000);
    assert.equal(parseAddDate("1600000000123"), 1_600_000_000_123);
    assert.equal(parseAddDate("1600000000123456"), 1_600_000_000_123);
    assert.equal(parseAddDate("soon"), null);
    assert.equal(parseAddDate(undefined), null);
  });
});

test("the spill file gives batches back in any order and leaves nothing behind", () => {
  const spill = new SpillFile<{ n: number; text: string }>("nasty-spill-test-");
  const dir = (spill as unknown as { dir: string }).dir;
  for (let batch = 0; batch < 3; batch += 1) spill.push(Array.from({ length: 4 }, (_, index) => ({ n: batch * 4 + index, text: `ünïcode ${"\u2615"} "${batch}"` })));
  assert.equal(spill.batchCount, 3);
  assert.deepEqual(spill.read(2).map((item) => item.n), [8, 9, 10, 11]);
  assert.deepEqual(spill.read(0)[1], { n: 1, text: `ünïcode ☕ "0"` });
  assert.throws(() => spill.read(3), RangeError);
  assert.ok(fs.existsSync(dir));
  spill.dispose();
  spill.dispose();
  assert.equal(fs.existsSync(dir), false);
  assert.throws(() => spill.read(0), /after dispose/);
});

describe("POST /api/import and GET /api/export", () => {
  let nasty: Nasty;
  let base: string;
  let alice: string;

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
  });
  after(() => nasty.close());

  const upload = (token: string | undefined, body: string | Uint8Array, query = "", type = "text/html") =>
    request(base, "POST", `/api/import${query}`, { token, raw: body, headers: type === "" ? {} : { "content-type": type } });

  test("a file from the netscape-bookmarks package imports, nested folders as tags", async () => {
    const token = await signUp(base, "gen");
    const file = netscape({
      "Dave Eddy's Blog": "http://www.daveeddy.com",
      "Perfume Global": { url: "http://www.perfume-global.com/", add_date: 1357547237, description: "Japanese techno-pop" },
      Unfiled: { contents: { Twitter: "http://twitter.com" } },
      "Second Folder": { contents: { "Nested Folders!": { contents: { YouTube: "http://www.youtube.com", GitHub: "https://github.com" } } } },
      Separator: { separator: true },
    });
    const reply = await upload(token, file);
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(reply.json, { entries: 5, imported: 5, duplicates: 0, skipped: 0, problems: [], problems_total: 0 });
    const listed = await request(base, "GET", "/api/bookmarks?user=gen&limit=100", { token });
    const byTitle = new Map<string, any>(listed.json.data.map((item: any) => [item.title, item]));
    assert.deepEqual(byTitle.get("GitHub").tags, ["second-folder", "nested-folders!"]);
    assert.deepEqual(byTitle.get("Twitter").tags, ["unfiled"]);
    assert.equal(byTitle.get("Perfume Global").description, "Japanese techno-pop");
    assert.equal(byTitle.get("Perfume Global").inserted_at, "2013-01-07T08:27:17.000Z");
    assert.equal(byTitle.get("Dave Eddy's Blog").url, "http://www.daveeddy.com", "the URL as the file gives it");

    const again = await upload(token, file, "?folders=false");
    assert.deepEqual(again.json, { entries: 5, imported: 0, duplicates: 5, skipped: 0, problems: [], problems_total: 0 }, "re-importing creates no duplicates");
    assert.equal((await request(base, "GET", "/api/bookmarks?user=gen&limit=100", { token })).json.data.length, 5);
  });

  test("a browser export: folders, entities, and each unusable entry reported by line and skipped", async () => {
    const token = await signUp(base, "browser");
    const reply = await upload(token, BROWSER_EXPORT, "", "");
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.entries, 8);
    assert.equal(reply.json.imported, 5);
    assert.equal(reply.json.skipped, 3);
    assert.deepEqual(reply.json.problems, [
      { line: 22, message: "'javascript:alert(1)' is not an http(s) URL; skipped" },
      { line: 25, message: "no title for https://crates.io/; skipped" },
      { line: 28, message: "'place:sort=8&maxResults=10' is not an http(s) URL; skipped" },
    ]);
    const listed = await request(base, "GET", "/api/bookmarks?user=browser&limit=100", { token });
    const byTitle = new Map<string, any>(listed.json.data.map((item: any) => [item.title, item]));
    assert.deepEqual(byTitle.get("MDN Web Docs").tags, ["docs", "web", "dev-tools"]);
    assert.deepEqual(byTitle.get("The Book").tags, ["dev-tools", "rust-&-more"]);
    assert.deepEqual(byTitle.get("On the toolbar").tags, []);
    assert.equal(byTitle.get("Café ☕ menu").url, "https://café.example/menü?a=1&b=2", "the URL as the file gives it, entities decoded");
    assert.deepEqual(listed.json.data.map((item: any) => item.title), ["Unfiled one", "Café ☕ menu", "The Book", "MDN Web Docs", "On the toolbar"], "an oldest-first file keeps its order");
  });

  test("export → import is lossless (up to the format's whole seconds) and keeps the order", async () => {
    const source = await signUp(base, "source");
    const made = [
      await createBookmark(base, source, { title: "Oldest <b>bold</b>", url: "https://one.example/?q=a&b=\"c\"", description: "line one\nline two & more", tags: ["a", "b-c"], inserted_at: "2009-01-02T03:04:05Z" }),
      await createBookmark(base, source, { title: "Private one", url: "https://two.example/", public: false, unread: true, tags: ["secret"] }),
      await createBookmark(base, source, { title: "Ünïcödé 🚀", url: "https://three.example/päth", description: "" }),
    ];
    assert.equal(made.length, 3);
    const exported = await request(base, "GET", "/api/export", { token: source });
    assert.equal(exported.status, 200);
    assert.match(exported.headers.get("content-type")!, /^text\/html/);
    assert.match(exported.headers.get("content-disposition")!, /^attachment; filename="nasty-source-\d{4}-\d{2}-\d{2}\.html"$/);
    assert.match(exported.text, /^<!DOCTYPE NETSCAPE-Bookmark-file-1>/);

    const target = await signUp(base, "target");
    const imported = await upload(target, exported.text);
    assert.deepEqual(imported.json, { entries: 3, imported: 3, duplicates: 0, skipped: 0, problems: [], problems_total: 0 });
    const shape = (item: any) => ({ ...item, id: 0, user: "", updated_at: "", inserted_at: item.inserted_at.replace(/\.\d{3}Z$/, "Z") });
    const before = (await request(base, "GET", "/api/bookmarks?user=source", { token: source })).json.data.map(shape);
    const afterwards = (await request(base, "GET", "/api/bookmarks?user=target", { token: target })).json.data.map(shape);
    assert.deepEqual(afterwards, before);
    assert.equal(afterwards.length, 3);

    const theirs = await request(base, "GET", "/api/export?user=source");
    assert.equal(theirs.status, 200);
    assert.doesNotMatch(theirs.text, /Private one/, "someone else's export leaves private bookmarks out");
    assert.match(theirs.text, /Ünïcödé 🚀/);
  });

  test("bad requests: no auth, wrong type, not a bookmark file, too big", async () => {
    assert.equal((await upload(undefined, BROWSER_EXPORT)).status, 401);
    const json = await upload(alice, "{}", "", "application/json");
    assert.equal(json.status, 415);
    assert.match(json.json.error, /Netscape bookmark file/);
    const notBookmarks = await upload(alice, "<html><body><p>hello</p></body></html>");
    assert.equal(notBookmarks.status, 422);
    assert.match(notBookmarks.json.error, /not a Netscape bookmark file/);
    const badFlag = await upload(alice, BROWSER_EXPORT, "?folders=perhaps");
    assert.equal(badFlag.status, 400);
    const declared = await rawPost(nasty.port, "/api/import", { authorization: `Bearer ${alice}`, "content-type": "text/html", "content-length": String(IMPORT_BYTES_MAX + 1) }, "<DL>");
    assert.match(declared, /^HTTP\/1\.1 413 /);
    assert.match(declared, /over the limit of 67108864 bytes/);
    assert.equal((await request(base, "GET", "/api/export")).status, 401);
    assert.equal((await request(base, "GET", "/api/export?user=nobody")).status, 404);
    assert.equal((await request(base, "GET", "/api/me", { token: alice })).status, 200, "the server keeps serving");
  });

  test("a big file streams in and imports in batches", async () => {
    const token = await signUp(base, "bulk");
    const count = 5000;
    const lines = Array.from({ length: count }, (_, index) => `<DT><A HREF="https://bulk.example/${index}" ADD_DATE="${1_500_000_000 + index}" TAGS="bulk,n${index % 10}">Bulk ${index} ${"x".repeat(200)}</A>\n<DD>${"description ".repeat(20)}\n`);
    const file = Buffer.from(`<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n${lines.join("")}</DL>\n`);
    assert.ok(file.byteLength > 2 * 1024 * 1024, "over the stream's pause threshold");
    const reply = await upload(token, file);
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.imported, count);
    const newest = await request(base, "GET", "/api/bookmarks?user=bulk&limit=1", { token });
    assert.match(newest.json.data[0].title, /^Bulk 4999 /);
    const tagged = await request(base, "GET", "/api/bookmarks?user=bulk&tag=n7&limit=100", { token });
    assert.equal(tagged.json.data.length, 100);
  });
});
