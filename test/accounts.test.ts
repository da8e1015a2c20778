// Accounts (issue 13): roles in /api/me, changing one's password (the others' tokens, sessions and sockets end), deleting one's account.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createBookmark, request, signUp, startTestServer, tempDir } from "./support/server.ts";
import { PageClient } from "./support/pages.ts";
import { Client, openLive, subscribe, until, wsUrl } from "./support/realtime.ts";
import { SESSION_COOKIE } from "../src/auth/cookies.ts";
import { apiSurfaces, pageSurfaces, searchSurfaces } from "./support/surfaces.ts";

test("the first account of a fresh server is admin, the others members; /api/me says so, and so does a restarted server", async () => {
  const dataDir = tempDir();
  const first = await startTestServer({ NASTY_DATA_DIR: dataDir });
  let admin: string;
  let member: string;
  try {
    admin = await signUp(first.url, "firstone");
    member = await signUp(first.url, "second");
    assert.equal((await request(first.url, "GET", "/api/me", { token: admin })).json.user.role, "admin");
    const me = await request(first.url, "GET", "/api/me", { token: member });
    assert.equal(me.status, 200);
    assert.deepEqual({ username: me.json.user.username, role: me.json.user.role }, { username: "second", role: "member" });
  } finally {
    await first.close();
  }
  // Written into a snapshot at shutdown and read back; the log alone says the same.
  const second = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    assert.equal((await request(second.url, "GET", "/api/me", { token: admin })).json.user.role, "admin");
    assert.equal((await request(second.url, "GET", "/api/me", { token: member })).json.user.role, "member");
    assert.equal((await request(second.url, "GET", "/api/me", { token: await signUp(second.url, "third") })).json.user.role, "member", "only the first account of a fresh server");
  } finally {
    await second.close();
  }
});

test("changing your password revokes every other token and session of yours and closes their sockets; the one that asked stays", async () => {
  const dataDir = tempDir();
  const nasty = await startTestServer({ NASTY_DATA_DIR: dataDir });
  const base = nasty.url;
  let keeper: string;
  let other: string;
  try {
    keeper = await signUp(base, "changer", "old password");
    const bystander = await signUp(base, "bystander");
    other = (await request(base, "POST", "/api/tokens", { body: { username: "changer", password: "old password", name: "laptop" } })).json.token;
    const browser = new PageClient(base);
    assert.equal((await browser.logIn("changer", "old password")).status, 303);
    const session = browser.cookies.get(SESSION_COOKIE)!;
    const bookmark = await createBookmark(base, keeper, { title: "mine", url: "https://mine.example" });

    // Sockets of the other token (raw, Phoenix) and of the browser session (/live on the private topic); one of the keeper's; one of a bystander.
    const raw = await Client.open(wsUrl(nasty, `/ws?token=${other}`));
    await subscribe(raw, `bookmark:${bookmark.id}`);
    const phoenix = await Client.open(wsUrl(nasty, `/socket/websocket?vsn=2.0.0&token=${other}`));
    const live = await openLive(base, "bookmarks:user:changer:private", { cookie: `${SESSION_COOKIE}=${session}`, origin: base });
    const kept = await Client.open(wsUrl(nasty, `/ws?token=${keeper}`));
    await subscribe(kept, "bookmarks:user:changer:private");
    const unrelated = await Client.open(wsUrl(nasty, `/ws?token=${bystander}`));

    // Refused, and nothing changed: a wrong current password (403), a weak new one (422), no body (400).
    const wrong = await request(base, "POST", "/api/me/password", { token: keeper, body: { current_password: "not it", new_password: "new password" } });
    assert.equal(wrong.status, 403);
    assert.match(wrong.json.error, /current_password is not your current password/);
    const weak = await request(base, "POST", "/api/me/password", { token: keeper, body: { current_password: "old password", new_password: "short" } });
    assert.equal(weak.status, 422);
    assert.ok(weak.json.errors.new_password, weak.text);
    assert.equal((await request(base, "POST", "/api/me/password", { token: keeper, raw: "{", headers: { "content-type": "application/json" } })).status, 400);
    assert.equal((await request(base, "GET", "/api/me", { token: other })).status, 200, "a refused change revokes nothing");
    assert.equal(raw.closed, null);

    const changed = await request(base, "POST", "/api/me/password", { token: keeper, body: { current_password: "old password", new_password: "new password" } });
    assert.equal(changed.status, 204, changed.text);

    assert.equal((await request(base, "GET", "/api/me", { token: keeper })).status, 200, "the token that asked stays valid");
    assert.equal((await request(base, "GET", "/api/me", { token: other })).status, 401, "the other API token is revoked");
    assert.equal((await browser.get("/settings")).status, 303, "the browser session is over: settings send it to log in");
    await until(() => raw.closed !== null && phoenix.closed !== null, "the other token's sockets to close");
    assert.equal(raw.closed!.code, 4401);
    assert.equal(phoenix.closed!.code, 4401);
    assert.equal((await live.closed).code >= 4000, true, "the session's private live page is closed");
    await kept.barrier();
    await unrelated.barrier();
    assert.equal(kept.closed, null, "the asking token's socket stays open");
    assert.equal(unrelated.closed, null, "someone else's socket stays open");

    assert.equal((await request(base, "POST", "/api/tokens", { body: { username: "changer", password: "old password" } })).status, 401, "the old password no longer logs in");
    assert.equal((await request(base, "POST", "/api/tokens", { body: { username: "changer", password: "new password" } })).status, 201, "the new one does");
    for (const client of [kept, unrelated]) await client.close();
  } finally {
    await nasty.close();
  }
  // Durable: the revocations and the new hash are events, replayed after a restart.
  const again = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    assert.equal((await request(again.url, "GET", "/api/me", { token: keeper })).status, 200);
    assert.equal((await request(again.url, "GET", "/api/me", { token: other })).status, 401);
    assert.equal((await request(again.url, "POST", "/api/tokens", { body: { username: "changer", password: "new password" } })).status, 201);
  } finally {
    await again.close();
  }
});

test("the settings page changes the password (keeping this session, ending another) and refuses a wrong current one", async () => {
  const nasty = await startTestServer();
  try {
    const here = new PageClient(nasty.url);
    await here.signUp("paged", "old password");
    const elsewhere = new PageClient(nasty.url);
    assert.equal((await elsewhere.logIn("paged", "old password")).status, 303);

    const settings = await here.get("/settings");
    assert.match(settings.text, /action="\/settings\/password"/);
    assert.match(settings.text, /action="\/settings\/delete"/);
    const wrong = await here.post("/settings/password", { current_password: "nope nope", new_password: "new password" });
    assert.equal(wrong.status, 403);
    assert.match(wrong.text, /current_password is not your current password/);
    assert.equal((await elsewhere.get("/settings")).status, 200, "nothing was revoked");
    const noToken = await here.post("/settings/password", { current_password: "old password", new_password: "new password" }, { csrf: null });
    assert.equal(noToken.status, 403, "a form without its CSRF token is refused");

    await here.get("/settings");
    const done = await here.post("/settings/password", { current_password: "old password", new_password: "new password" });
    assert.equal(done.status, 200, done.text.slice(0, 300));
    assert.match(done.text, /Password changed/);
    assert.equal((await here.get("/settings")).status, 200, "this session stays");
    assert.equal((await elsewhere.get("/settings")).status, 303, "the other session was signed out");
  } finally {
    await nasty.close();
  }
});

test("DELETE /api/comments/:id: the author deletes (204), others get 403, unknown 404; open discussions drop it live", async () => {
  const nasty = await startTestServer();
  const base = nasty.url;
  try {
    const author = await signUp(base, "author");
    const owner = await signUp(base, "owner");
    const stranger = await signUp(base, "stranger");
    const bookmark = await createBookmark(base, owner, { title: "discussed", url: "https://discussed.example", tags: ["talk"] });
    const hidden = await createBookmark(base, owner, { title: "hidden", url: "https://hidden.example", public: false });
    const posted = await request(base, "POST", `/api/bookmarks/${bookmark.id}/comments`, { token: author, body: { body: "zz-doomed words" } });
    const stays = await request(base, "POST", `/api/bookmarks/${bookmark.id}/comments`, { token: stranger, body: { body: "stays" } });
    const commentId: number = posted.json.comment.data.id;
    const privateComment = (await request(base, "POST", `/api/bookmarks/${hidden.id}/comments`, { token: owner, body: { body: "note to self" } })).json.comment.data.id;

    const watcher = await Client.open(wsUrl(nasty, "/ws"));
    await subscribe(watcher, `bookmark:${bookmark.id}`);
    const live = await openLive(base, `bookmark:${bookmark.id}`);
    const tagPage = await openLive(base, "bookmarks:tag:talk");

    assert.equal((await request(base, "DELETE", `/api/comments/${commentId}`, { token: owner })).status, 403, "the bookmark's owner is not the author");
    assert.equal((await request(base, "DELETE", `/api/comments/${commentId}`, { token: stranger })).status, 403);
    assert.equal((await request(base, "DELETE", `/api/comments/${commentId}`)).status, 401);
    assert.equal((await request(base, "DELETE", "/api/comments/999999999", { token: author })).status, 404);
    assert.equal((await request(base, "DELETE", `/api/comments/${privateComment}`, { token: author })).status, 404, "a comment on someone's private bookmark is as good as absent");
    assert.equal((await request(base, "DELETE", "/api/comments/x1", { token: author })).status, 404);
    assert.equal((await request(base, "GET", `/api/bookmarks/${bookmark.id}/comments`)).json.total, 2, "refusals changed nothing");

    assert.equal((await request(base, "DELETE", `/api/comments/${commentId}`, { token: author })).status, 204);
    assert.equal((await request(base, "DELETE", `/api/comments/${commentId}`, { token: author })).status, 404, "gone");
    const left = await request(base, "GET", `/api/bookmarks/${bookmark.id}/comments`);
    assert.deepEqual(left.json.data.map((comment: any) => comment.id), [stays.json.comment.data.id]);
    assert.equal(left.json.total, 1);
    assert.equal((await request(base, "GET", `/api/bookmarks/${bookmark.id}`)).json.data.comment_count, 1);
    assert.ok(!(await (await fetch(`${base}/b/${bookmark.id}`)).text()).includes("zz-doomed"), "the page no longer shows it");

    const push = await watcher.next((frame) => frame.event === "comment_deleted", "the comment_deleted push");
    assert.deepEqual({ topic: push.topic, payload: push.payload }, { topic: `bookmark:${bookmark.id}`, payload: { id: commentId, bookmark_id: bookmark.id } });
    const fragment = await live.next();
    assert.deepEqual({ target: fragment.target, swap: fragment.swap }, { target: `#c-${commentId}`, swap: "delete" });
    assert.match(fragment.content, new RegExp(`id="cc-${bookmark.id}"[^>]*hx-swap-oob="true">1 comment<`), "the count goes down with it");
    const count = await tagPage.next();
    assert.deepEqual({ target: count.target, swap: count.swap }, { target: `#cc-${bookmark.id}`, swap: "outerHTML" });
    assert.match(count.content, />1 comment</);
    await watcher.close();
    for (const page of [live, tagPage]) page.socket.close();
  } finally {
    await nasty.close();
  }
});

test("the bookmark page: a delete button on every comment, shown to its author only by the stylesheet; the form deletes, from this site only", async () => {
  const nasty = await startTestServer();
  const base = nasty.url;
  try {
    const owner = await signUp(base, "pageowner");
    const bookmark = await createBookmark(base, owner, { title: "page", url: "https://page.example" });
    const author = new PageClient(base);
    await author.signUp("pagewriter");
    await author.get(`/b/${bookmark.id}`);
    assert.equal((await author.post(`/b/${bookmark.id}/comments`, { body: "zz-page comment" })).status, 303);
    const comment = [...nasty.store.commentsById.values()].find((candidate) => candidate.body === "zz-page comment")!;
    const page = await author.get(`/b/${bookmark.id}`);
    assert.match(page.text, new RegExp(`<li class="comment" id="c-${comment.id}" data-owner="pagewriter"><div class="comment-meta">.*<span class="owner-only"><form [^>]*action="/comments/${comment.id}/delete"`));

    const other = new PageClient(base);
    await other.signUp("pageother");
    const refused = await other.post(`/comments/${comment.id}/delete`, {}, { csrf: null, headers: { origin: base } });
    assert.equal(refused.status, 403);
    const crossSite = await author.post(`/comments/${comment.id}/delete`, {}, { csrf: null, headers: { origin: "https://evil.example" } });
    assert.equal(crossSite.status, 403);
    const noOrigin = await author.post(`/comments/${comment.id}/delete`, {}, { csrf: null });
    assert.equal(noOrigin.status, 403);
    assert.ok(nasty.store.commentsById.has(comment.id), "refusals changed nothing");

    const deleted = await author.post(`/comments/${comment.id}/delete`, {}, { csrf: null, headers: { origin: base, "hx-request": "true" } });
    assert.equal(deleted.status, 204);
    assert.ok(!nasty.store.commentsById.has(comment.id));
    assert.ok(!(await author.get(`/b/${bookmark.id}`)).text.includes("zz-page comment"));
  } finally {
    await nasty.close();
  }
});

test("DELETE /api/me erases the account everywhere at once: every surface the privacy tests walk, search, random picks, live pages and sockets", async () => {
  const dataDir = tempDir();
  const nasty = await startTestServer({ NASTY_DATA_DIR: dataDir });
  const base = nasty.url;
  const MARK = "zqxdoomedzqx";
  let alice: string;
  let doomed: string;
  try {
    alice = await signUp(base, "alice");
    doomed = await signUp(base, "doomed", "doomed password");
    const second = (await request(base, "POST", "/api/tokens", { body: { username: "doomed", password: "doomed password" } })).json.token;
    const kept = await createBookmark(base, alice, { title: "zqxkeptzqx alice's", url: "https://kept.example", tags: ["shared"] });
    const loud = await createBookmark(base, doomed, { title: `${MARK} public`, url: "https://doomed.example/a", tags: ["shared", "zqx-doomed-tag"], description: "zqxdescwordzqx" });
    const quiet = await createBookmark(base, doomed, { title: `${MARK} private`, url: "https://doomed.example/b", tags: ["zqx-doomed-tag"], public: false });
    const onAlice = await request(base, "POST", `/api/bookmarks/${kept.id}/comments`, { token: doomed, body: { body: `${MARK} on alice's` } });
    await request(base, "POST", `/api/bookmarks/${loud.id}/comments`, { token: alice, body: { body: "alice on the doomed one" } });
    const commentId: number = onAlice.json.comment.data.id;

    const firehosePage = await openLive(base, "bookmarks:firehose");
    const discussionPage = await openLive(base, `bookmark:${kept.id}`);
    const watcher = await Client.open(wsUrl(nasty, "/ws"));
    for (const name of ["bookmarks:firehose", `bookmark:${kept.id}`, "bookmarks:user:doomed"]) await subscribe(watcher, name);
    const own = await Client.open(wsUrl(nasty, `/ws?token=${second}`));
    await subscribe(own, "bookmarks:user:doomed:private");

    // Refused, nothing changed: a wrong password (403), none (422), no body (415).
    assert.equal((await request(base, "DELETE", "/api/me", { token: doomed, body: { password: "not mine" } })).status, 403);
    assert.equal((await request(base, "DELETE", "/api/me", { token: doomed, body: {} })).status, 422);
    assert.equal((await request(base, "DELETE", "/api/me", { token: doomed })).status, 415, "no JSON body");
    assert.ok((await request(base, "GET", "/api/bookmarks")).text.includes(MARK), "the refusals erased nothing");
    // Positive controls: before, the surfaces do show the account.
    assert.ok((await request(base, "GET", "/api/bookmarks?q=zqxdescwordzqx")).text.includes(MARK), "search finds it");
    assert.ok((await (await fetch(`${base}/t/zqx-doomed-tag`)).text()).includes('data-owner="doomed"'), "the tag page shows it");
    assert.ok((await request(base, "GET", `/api/bookmarks/${kept.id}/comments`)).text.includes(MARK), "alice's discussion shows the comment");

    assert.equal((await request(base, "DELETE", "/api/me", { token: doomed, body: { password: "doomed password" } })).status, 204);

    const subject = { username: "doomed", bookmarkIds: [loud.id, quiet.id, kept.id], urls: ["https://doomed.example/a", "https://doomed.example/b"], tags: ["shared", "zqx-doomed-tag"] };
    const surfaces = [...apiSurfaces(subject), ...pageSurfaces(subject), ...searchSurfaces(["zqxdescwordzqx", "zqx-doomed-tag"])];
    const needles = [MARK, "zqxdescwordzqx", "zqx-doomed-tag", 'data-owner="doomed"', '"user":"doomed"', "/u/doomed\""];
    for (const token of [undefined, alice]) {
      for (const path of surfaces) {
        const reply = await request(base, "GET", path, { token });
        assert.ok(reply.status < 500, `GET ${path}: ${reply.status}`);
        // A page echoes what its address asks for (a tag, a query): those words are left out of its check.
        const shown = needles.filter((needle) => !decodeURIComponent(path).includes(needle) && reply.text.includes(needle));
        assert.deepEqual(shown, [], `${token ? "alice" : "anonymous"} GET ${path} still shows the account: ${reply.text.slice(0, 300)}`);
      }
    }
    // Positive controls: the same surfaces do show what stays.
    assert.ok((await request(base, "GET", "/api/bookmarks?tag=shared")).text.includes("zqxkeptzqx"));
    assert.ok((await (await fetch(`${base}/b/${kept.id}`)).text()).includes("zqxkeptzqx"));
    assert.equal((await request(base, "GET", `/api/bookmarks/${kept.id}/comments`)).json.total, 0);
    assert.equal((await request(base, "GET", `/api/bookmarks/${loud.id}`)).status, 404);
    for (const token of [doomed, second]) assert.equal((await request(base, "GET", "/api/me", { token })).status, 401, "every token of the account is gone");

    // Live: open pages drop the bookmark and the comment; JSON subscribers hear it; the account's own sockets close.
    const cardGone = await firehosePage.next();
    assert.deepEqual({ target: cardGone.target, swap: cardGone.swap }, { target: `#b-${loud.id}`, swap: "delete" });
    const commentGone = await discussionPage.next();
    assert.deepEqual({ target: commentGone.target, swap: commentGone.swap }, { target: `#c-${commentId}`, swap: "delete" });
    await watcher.next((frame) => frame.event === "comment_deleted" && frame.topic === `bookmark:${kept.id}` && frame.payload.id === commentId, "comment_deleted on alice's discussion");
    await watcher.barrier();
    assert.deepEqual(watcher.events("bookmarks:firehose"), [["bookmark_deleted", loud.id]]);
    assert.deepEqual(watcher.events("bookmarks:user:doomed"), [["bookmark_deleted", loud.id]]);
    await until(() => own.closed !== null, "the account's own socket to close");
    assert.equal(own.closed!.code, 4401);
    await watcher.close();
    for (const page of [firehosePage, discussionPage]) page.socket.close();

    // The name is free again, and the new account starts empty.
    const again = await signUp(base, "doomed");
    assert.deepEqual((await request(base, "GET", "/api/bookmarks?user=doomed", { token: again })).json.data, []);
  } finally {
    await nasty.close();
  }
  // Replayed after a restart: still erased.
  const restarted = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    assert.ok(!(await request(restarted.url, "GET", "/api/bookmarks")).text.includes(MARK));
    assert.equal((await request(restarted.url, "GET", "/api/me", { token: doomed })).status, 401);
    assert.equal((await request(restarted.url, "GET", "/api/me", { token: alice })).status, 200);
  } finally {
    await restarted.close();
  }
});

test("the settings page deletes the account after asking for the password, and logs out", async () => {
  const nasty = await startTestServer();
  try {
    const client = new PageClient(nasty.url);
    await client.signUp("leaving", "leaving password");
    await client.get("/settings");
    const wrong = await client.post("/settings/delete", { password: "wrong password" });
    assert.equal(wrong.status, 403);
    assert.match(wrong.text, /password is not your current password/);
    assert.ok(nasty.store.userByName("leaving"), "a wrong password deletes nothing");
    await client.get("/settings");
    const gone = await client.post("/settings/delete", { password: "leaving password" });
    assert.equal(gone.status, 303);
    assert.equal(gone.location, "/");
    assert.ok(gone.setCookies.some((line) => line.startsWith(`${SESSION_COOKIE}=;`) || /max-age=0/i.test(line)), gone.setCookies.join(" | "));
    assert.equal(nasty.store.userByName("leaving"), undefined);
    assert.equal((await client.get("/settings")).status, 303, "logged out");
  } finally {
    await nasty.close();
  }
});
