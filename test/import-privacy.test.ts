// Imports are private unless the person chooses public: a browser export (no PRIVATE attribute) never reaches the firehose, feeds or anyone else's API answer.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseFeed } from "@rowanmanning/feed-parser";
import { request, signUp, startTestServer } from "./support/server.ts";
import { Client, subscribe, wsUrl } from "./support/realtime.ts";
import type { Nasty } from "../src/main.ts";

/** As Chrome exports: no PRIVATE attribute anywhere, except the two entries that carry their own. */
function browserExport(prefix: string): string {
  return `<!DOCTYPE NETSCAPE-Bookmark-file-1>
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<TITLE>Bookmarks</TITLE>
<H1>Bookmarks</H1>
<DL><p>
    <DT><H3 ADD_DATE="1600000000" PERSONAL_TOOLBAR_FOLDER="true">Bookmarks bar</H3>
    <DL><p>
        <DT><A HREF="https://${prefix}-bank.example/" ADD_DATE="1600000001">${prefix} my bank</A>
        <DT><A HREF="https://${prefix}-doctor.example/" ADD_DATE="1600000002">${prefix} my doctor</A>
        <DT><A HREF="https://${prefix}-marked-public.example/" ADD_DATE="1600000003" PRIVATE="0">${prefix} marked public</A>
        <DT><A HREF="https://${prefix}-marked-private.example/" ADD_DATE="1600000004" PRIVATE="1">${prefix} marked private</A>
    </DL><p>
</DL><p>
`;
}

describe("imports are private unless the person chooses public", () => {
  let nasty: Nasty;
  let base: string;
  let alice: string;
  let watcher: Client;

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    watcher = await Client.open(wsUrl(nasty, "/ws"));
    await subscribe(watcher, "bookmarks:firehose");
    await subscribe(watcher, "bookmarks:user:alice");
  });
  after(async () => {
    await watcher.close();
    await nasty.close();
  });

  const upload = (file: string, query = "") => request(base, "POST", `/api/import${query}`, { token: alice, raw: file, headers: { "content-type": "text/html" } });
  const pushedTitles = () => watcher.pushes().filter((frame) => frame.event === "bookmark_created").map((frame) => frame.payload.title as string);
  const feedTitles = async (feedPath: string) => parseFeed((await request(base, "GET", feedPath)).text).items.map((item) => item.title);
  const anonymousTitles = async (query: string) => (await request(base, "GET", `/api/bookmarks?${query}`)).json.data.map((item: { title: string }) => item.title);

  test("a browser export imported with the defaults is private: not pushed, not in feeds, not in anyone else's answers; an entry's own PRIVATE=\"0\" is public", async () => {
    const reply = await upload(browserExport("default"));
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.imported, 4);
    const own = (await request(base, "GET", "/api/bookmarks?user=alice", { token: alice })).json.data as { id: number; title: string; public: boolean }[];
    assert.deepEqual(own.map((item) => [item.title, item.public]), [["default marked private", false], ["default marked public", true], ["default my doctor", false], ["default my bank", false]]);

    await watcher.barrier();
    assert.deepEqual(pushedTitles(), ["default marked public", "default marked public"], "only the entry marked public reached the firehose and alice's public topic");
    for (const feedPath of ["/feeds/firehose.rss", "/feeds/u/alice.atom"]) assert.deepEqual(await feedTitles(feedPath), ["default marked public"], feedPath);
    assert.deepEqual(await anonymousTitles("user=alice"), ["default marked public"]);
    assert.deepEqual(await anonymousTitles("q=default"), ["default marked public"]);
    const bank = own.find((item) => item.title === "default my bank")!;
    assert.equal((await request(base, "GET", `/api/bookmarks/${bank.id}`)).status, 404);
    assert.equal((await request(base, "GET", `/b/${bank.id}`)).status, 404);
  });

  test("?public=true makes the entries without PRIVATE public; PRIVATE=\"1\" still wins", async () => {
    const before = pushedTitles().length;
    const reply = await upload(browserExport("chosen"), "?public=true");
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.imported, 4);
    await watcher.barrier();
    const pushed = pushedTitles().slice(before);
    assert.deepEqual([...new Set(pushed)].sort(), ["chosen marked public", "chosen my bank", "chosen my doctor"]);
    assert.equal(pushed.length, 6, "each on the firehose and on alice's public topic");
    assert.deepEqual((await feedTitles("/feeds/firehose.rss")).filter((title) => title?.startsWith("chosen")).sort(), ["chosen marked public", "chosen my bank", "chosen my doctor"]);
    assert.deepEqual((await anonymousTitles("q=chosen")).sort(), ["chosen marked public", "chosen my bank", "chosen my doctor"]);
    assert.equal((await upload(browserExport("bad"), "?public=perhaps")).status, 400, "a choice that is neither true nor false is refused");
  });
});
