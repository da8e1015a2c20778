// Moderation (issue 13): admins, deleting anyone's bookmarks, suspension, sign-up modes and invitations, the admin routes, replay and the live admin page.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { createBookmark, request, signUp, startTestServer, tempDir } from "./support/server.ts";
import { PageClient } from "./support/pages.ts";
import { Client, openLive, until, wsUrl } from "./support/realtime.ts";
import { routeTable } from "../src/http/router.ts";
import { snapshot } from "../src/store/check.ts";
import { Store } from "../src/store/store.ts";

const ADMIN_WRITES: [string, string, unknown][] = [
  ["POST", "/api/admin/users/bob/suspend", undefined],
  ["POST", "/api/admin/users/bob/unsuspend", undefined],
  ["PUT", "/api/admin/users/bob/role", { role: "admin" }],
  ["DELETE", "/api/admin/users/bob", undefined],
  ["PUT", "/api/admin/signup", { mode: "closed" }],
  ["POST", "/api/admin/invites", undefined],
];

describe("moderation through the API", { timeout: 60_000 }, () => {
  test("the first account is the admin; an admin deletes anyone's bookmark (private too) through DELETE, a member gets 403", async () => {
    const nasty = await startTestServer();
    try {
      const base = nasty.url;
      const admin = await signUp(base, "root");
      const alice = await signUp(base, "alice");
      const bob = await signUp(base, "bob");
      assert.equal(nasty.store.userByName("root")?.role, "admin", "the first account is the admin");
      assert.equal(nasty.store.userByName("alice")?.role, "member");
      const spam = await createBookmark(base, alice, { title: "spam", url: "https://spam.example/1", tags: ["spam"] });
      const hidden = await createBookmark(base, alice, { title: "zq-private-marker", url: "https://spam.example/private", public: false });
      const member = await request(base, "DELETE", `/api/bookmarks/${spam.id}`, { token: bob });
      assert.equal(member.status, 403);
      assert.match(member.json.error, /only its owner/);
      assert.equal((await request(base, "DELETE", `/api/bookmarks/${hidden.id}`, { token: bob })).status, 404, "a member does not learn of a private one");
      // The admin sees private bookmarks of others nowhere: not in lists, search, tags or by id.
      for (const pathname of ["/api/bookmarks", "/api/bookmarks?user=alice", `/api/bookmarks?q=zq-private-marker`, `/api/bookmarks/${hidden.id}`, "/api/admin"]) {
        const reply = await request(base, "GET", pathname, { token: admin });
        assert.ok(!reply.text.includes("zq-private-marker"), `the admin's GET ${pathname} shows another's private bookmark: ${reply.text.slice(0, 200)}`);
      }
      assert.equal((await request(base, "DELETE", `/api/bookmarks/${spam.id}`, { token: admin })).status, 204);
      assert.equal((await request(base, "DELETE", `/api/bookmarks/${hidden.id}`, { token: admin })).status, 204, "an admin deletes a private one too");
      assert.equal(nasty.store.bookmarksById.size, 0);
      assert.equal((await request(base, "GET", "/api/tags")).json.data.length, 0);
      // Made an admin, bob may delete too; roles are events.
      assert.equal((await request(base, "PUT", "/api/admin/users/bob/role", { token: admin, body: { role: "admin" } })).status, 204);
      const again = await createBookmark(base, alice, { title: "more spam", url: "https://spam.example/2" });
      assert.equal((await request(base, "DELETE", `/api/bookmarks/${again.id}`, { token: bob })).status, 204);
      const bad = await request(base, "PUT", "/api/admin/users/bob/role", { token: admin, body: { role: "king" } });
      assert.equal(bad.status, 422);
      assert.match(bad.json.error + JSON.stringify(bad.json.errors ?? {}), /role must be one of admin, member|must be one of admin, member/);
    } finally {
      await nasty.close();
    }
  });

  test("an admin deletes another member's comment through DELETE /api/comments/:id (204), a member gets 403", async () => {
    const nasty = await startTestServer();
    try {
      const base = nasty.url;
      const admin = await signUp(base, "root");
      const alice = await signUp(base, "alice");
      const bob = await signUp(base, "bob");
      const host = await createBookmark(base, bob, { title: "discussed", url: "https://comments.example/1" });
      const posted = await request(base, "POST", `/api/bookmarks/${host.id}/comments`, { token: alice, body: { body: "zz-rude words" } });
      const commentId: number = posted.json.comment.data.id;
      const member = await request(base, "DELETE", `/api/comments/${commentId}`, { token: bob });
      assert.equal(member.status, 403, "the bookmark's owner, a member, may not");
      assert.match(member.json.error, /only its author or an admin/);
      assert.equal((await request(base, "GET", `/api/bookmarks/${host.id}/comments`)).json.total, 1, "the refusal changed nothing");
      assert.equal((await request(base, "DELETE", `/api/comments/${commentId}`, { token: admin })).status, 204);
      assert.equal((await request(base, "GET", `/api/bookmarks/${host.id}/comments`)).json.total, 0);
      assert.equal(nasty.store.commentsById.has(commentId as never), false);
      assert.equal((await request(base, "DELETE", `/api/comments/${commentId}`, { token: admin })).status, 404, "gone");
    } finally {
      await nasty.close();
    }
  });

  test("members get 403 and visitors 401 on every admin route, API and pages; members see no admin controls", async () => {
    const nasty = await startTestServer();
    try {
      const base = nasty.url;
      await signUp(base, "root");
      const bob = await signUp(base, "bob");
      const adminRoutes = routeTable(nasty.app).filter((entry) => entry.method !== "any" && (entry.pattern.startsWith("/api/admin") || entry.pattern.startsWith("/admin")));
      assert.ok(adminRoutes.length >= 14, `every admin route is in the table (${adminRoutes.length})`);
      const methods: Record<string, string> = { get: "GET", post: "POST", put: "PUT", del: "DELETE", patch: "PATCH" };
      const member = new PageClient(base);
      await member.logIn("bob");
      const visitor = new PageClient(base);
      for (const entry of adminRoutes) {
        const pathname = entry.pattern.replace(":name", "bob");
        const method = methods[entry.method]!;
        if (entry.pattern.startsWith("/api/")) {
          const body = method === "PUT" ? { mode: "closed", role: "admin" } : undefined;
          const asMember = await request(base, method, pathname, { token: bob, body });
          assert.equal(asMember.status, 403, `member ${method} ${pathname}: ${asMember.text.slice(0, 200)}`);
          assert.match(asMember.json.error, /only admins/);
          assert.equal((await request(base, method, pathname, { body })).status, 401, `visitor ${method} ${pathname}`);
        } else if (method === "GET") {
          assert.equal((await member.get(pathname)).status, 403, `member GET ${pathname}`);
          const anonymous = await visitor.get(pathname);
          assert.equal(anonymous.status, 303, `visitor GET ${pathname} goes to the log-in page`);
          assert.match(anonymous.location ?? "", /^\/login\?next=/);
        } else {
          await member.get("/settings");
          const asMember = await member.post(pathname, { username: "root", id: "1", mode: "closed" });
          assert.equal(asMember.status, 403, `member POST ${pathname}: ${asMember.text.slice(0, 200)}`);
          await visitor.get("/login");
          assert.equal((await visitor.post(pathname, { username: "root", mode: "closed" })).status, 401, `visitor POST ${pathname}`);
        }
      }
      assert.equal(nasty.store.userByName("root")?.suspended, false, "nothing a member asked was done");
      assert.equal(nasty.commands.signupMode, "open");
      const page = await member.get("/bookmarks");
      assert.ok(!page.text.includes('href="/admin"'), "a member's pages link to no admin page");
      const root = new PageClient(base);
      await root.logIn("root");
      assert.ok((await root.get("/bookmarks")).text.includes('href="/admin"'), "an admin's pages do (positive control)");
    } finally {
      await nasty.close();
    }
  });

  test("suspension: no log-in, tokens and sessions refused, sockets closed, everything they wrote hidden everywhere, back on unsuspend", async () => {
    const nasty = await startTestServer();
    const sockets: WebSocket[] = [];
    try {
      const base = nasty.url;
      const admin = await signUp(base, "root");
      const spammer = await signUp(base, "spammer");
      const reader = await signUp(base, "reader");
      const MARK = "zqspamzq";
      const own = await createBookmark(base, spammer, { title: `${MARK} quuxword`, url: "https://spam.example/a", tags: ["zqspamtag", "shared"], description: MARK });
      const host = await createBookmark(base, reader, { title: "a good link", url: "https://good.example/", tags: ["shared"] });
      assert.equal((await request(base, "POST", `/api/bookmarks/${host.id}/comments`, { token: spammer, body: { body: `${MARK} comment` } })).status, 201);
      const session = new PageClient(base);
      await session.logIn("spammer");
      const socket = await Client.open(wsUrl(nasty, `/ws?token=${spammer}`));
      const page = await openLive(base, "bookmarks:user:spammer:private", { cookie: session.cookieHeader(), origin: base });
      sockets.push(socket.socket, page.socket);

      const surfaces = [
        "/api/bookmarks", "/api/bookmarks?tag=shared", "/api/bookmarks?tag=zqspamtag", "/api/bookmarks?user=spammer", "/api/bookmarks?q=quuxword",
        "/api/bookmarks/random?n=100", "/api/scramble", "/api/tags", "/api/tags?user=spammer", `/api/bookmarks/${own.id}`, `/api/bookmarks/${host.id}/comments`,
        "/", "/t/shared", "/t/zqspamtag", "/u/spammer", `/b/${own.id}`, `/b/${host.id}`, "/search?q=quuxword", "/tags", "/discover",
        "/feeds/firehose.rss", "/feeds/u/spammer.atom", "/feeds/t/shared.rss",
      ];
      const leaks = async () => {
        const found: string[] = [];
        for (const token of [undefined, reader, admin]) {
          for (const pathname of surfaces) {
            const reply = await request(base, "GET", pathname, { token });
            if (reply.text.includes(MARK) || reply.text.includes("zqspamtag\"")) found.push(`${token === undefined ? "visitor" : token === reader ? "reader" : "admin"} ${pathname}`);
          }
        }
        return found;
      };
      assert.ok((await leaks()).length > 10, "before the suspension, the spam shows (positive control)");

      assert.equal((await request(base, "POST", "/api/admin/users/spammer/suspend", { token: admin })).status, 204);
      assert.deepEqual(await leaks(), [], "a suspended user's bookmarks and comments are on no surface");
      assert.equal(nasty.store.publicTagCounts().find((entry) => entry.tag === "shared")?.count, 1);
      const refused = await request(base, "GET", "/api/me", { token: spammer });
      assert.equal(refused.status, 401, "their tokens stop working");
      const logIn = await request(base, "POST", "/api/tokens", { body: { username: "spammer", password: "correct horse" } });
      assert.equal(logIn.status, 403);
      assert.match(logIn.json.error, /suspended/);
      const pageLogIn = await new PageClient(base).logIn("spammer");
      assert.equal(pageLogIn.status, 403);
      assert.match(pageLogIn.text, /suspended/);
      assert.equal((await session.get("/bookmarks")).status, 303, "their session no longer logs them in");
      await until(() => socket.closed !== null, "the suspended user's raw socket to close");
      assert.equal(socket.closed?.reason, "token revoked", "their raw socket closed");
      assert.deepEqual(await page.closed, { code: 4403, reason: "your session ended; log in again" }, "their page's private live socket closed");
      assert.equal((await request(base, "POST", "/api/admin/users/spammer/suspend", { token: admin })).status, 409);
      assert.equal((await request(base, "POST", "/api/admin/users/root/suspend", { token: admin })).status, 409, "an admin cannot suspend themselves");

      assert.equal((await request(base, "POST", "/api/admin/users/spammer/unsuspend", { token: admin })).status, 204);
      assert.ok((await leaks()).length > 10, "unsuspended, everything is back");
      assert.equal((await request(base, "GET", "/api/me", { token: spammer })).status, 200, "their tokens work again");
      assert.equal((await request(base, "POST", "/api/tokens", { body: { username: "spammer", password: "correct horse" } })).status, 201);
    } finally {
      for (const socket of sockets) socket.terminate();
      await nasty.close();
    }
  });

  test("an admin deletes a user through the user.deleted path; bad names get 404", async () => {
    const nasty = await startTestServer();
    try {
      const base = nasty.url;
      const admin = await signUp(base, "root");
      const bob = await signUp(base, "bob");
      await createBookmark(base, bob, { title: "bob's", url: "https://bob.example/" });
      assert.equal((await request(base, "DELETE", "/api/admin/users/nobody", { token: admin })).status, 404);
      assert.equal((await request(base, "DELETE", "/api/admin/users/root", { token: admin })).status, 409, "not oneself");
      assert.equal((await request(base, "DELETE", "/api/admin/users/bob", { token: admin })).status, 204);
      assert.equal(nasty.store.userByName("bob"), undefined);
      assert.equal(nasty.store.bookmarksById.size, 0);
      assert.equal((await request(base, "GET", "/api/me", { token: bob })).status, 401);
    } finally {
      await nasty.close();
    }
  });

  test("sign-up modes switched at run time, invitations single-use, and all of it after a restart", async () => {
    const dataDir = tempDir();
    let nasty = await startTestServer({ NASTY_DATA_DIR: dataDir, NASTY_SIGNUP: "closed" });
    try {
      let base = nasty.url;
      const closed = await request(base, "POST", "/api/users", { body: { user: { username: "first", password: "long enough" } } });
      assert.equal(closed.status, 403);
      assert.match(closed.json.error, /sign-up is closed/);
      await nasty.commands.register({ username: "root", password: "correct horse" }, "local", { ignoreClosedSignup: true });
      const admin = (await request(base, "POST", "/api/tokens", { body: { username: "root", password: "correct horse" } })).json.token;
      assert.deepEqual((await request(base, "GET", "/api/admin/signup", { token: admin })).json, { mode: "closed" });
      const badMode = await request(base, "PUT", "/api/admin/signup", { token: admin, body: { mode: "sometimes" } });
      assert.equal(badMode.status, 422);
      assert.match(JSON.stringify(badMode.json), /must be one of open, closed, invite/);
      assert.deepEqual((await request(base, "PUT", "/api/admin/signup", { token: admin, body: { mode: "invite" } })).json, { mode: "invite" });
      const without = await request(base, "POST", "/api/users", { body: { user: { username: "guest", password: "long enough" } } });
      assert.equal(without.status, 403);
      assert.match(without.json.error, /by invitation only/);
      const made = await request(base, "POST", "/api/admin/invites", { token: admin });
      assert.equal(made.status, 201);
      assert.equal(made.json.url, `${base}/signup?invite=${made.json.invite}`);
      const wrong = await request(base, "POST", "/api/users", { body: { user: { username: "guest", password: "long enough", invite: "invite_nope" } } });
      assert.equal(wrong.status, 403);
      assert.match(wrong.json.error, /not valid/);
      const spare = (await request(base, "POST", "/api/admin/invites", { token: admin })).json.invite;
      const joined = await request(base, "POST", "/api/users", { body: { user: { username: "guest", password: "long enough", invite: made.json.invite } } });
      assert.equal(joined.status, 201, joined.text);
      assert.equal(nasty.store.userByName("guest")?.role, "member");
      const reused = await request(base, "POST", "/api/users", { body: { user: { username: "guest2", password: "long enough", invite: made.json.invite } } });
      assert.equal(reused.status, 403, "an invitation works once");
      // The sign-up page with the link's invitation.
      const visitor = new PageClient(base);
      const form = await visitor.get(`/signup?invite=${spare}`);
      assert.match(form.text, new RegExp(`name="invite" value="${spare}"`));
      assert.equal((await visitor.post("/signup", { username: "paged", password: "long enough", invite: spare })).status, 303);
      const noInvite = await new PageClient(base).get("/signup");
      assert.match(noInvite.text, /by invitation only/);

      await request(base, "POST", "/api/admin/users/guest/suspend", { token: admin });
      const before = snapshot(nasty.store);
      // The log folded into an empty store from its first event gives the same store.
      const replayed = new Store(0);
      assert.equal(nasty.log.replay((event) => replayed.apply(event)), nasty.log.lastSeq, "the whole log is there (nothing compacted yet)");
      assert.deepEqual(snapshot(replayed), before, "the moderation events replay exactly");
      await nasty.close();
      nasty = await startTestServer({ NASTY_DATA_DIR: dataDir, NASTY_SIGNUP: "open" });
      base = nasty.url;
      assert.deepEqual(snapshot(nasty.store), before, "after a restart too");
      assert.equal(nasty.commands.signupMode, "invite", "the switched mode outlives NASTY_SIGNUP's starting value");
      assert.equal((await request(base, "POST", "/api/tokens", { body: { username: "guest", password: "long enough" } })).status, 403, "still suspended");
      assert.equal((await request(base, "POST", "/api/users", { body: { user: { username: "guest3", password: "long enough", invite: made.json.invite } } })).status, 403, "still used");
      assert.ok(nasty.replayed.snapshot !== null, "started from the shutdown snapshot, which holds them too");
    } finally {
      await nasty.close();
    }
  });
});

describe("the /admin page", { timeout: 60_000 }, () => {
  test("lists sign-ups, bookmarks and comments, acts through its forms, and its live panel follows every change", async () => {
    const nasty = await startTestServer();
    const sockets: WebSocket[] = [];
    try {
      const base = nasty.url;
      const root = new PageClient(base);
      await root.signUp("root");
      const alice = await signUp(base, "alice");
      const host = await createBookmark(base, alice, { title: "hosted <link>", url: "https://admin.example/1" });
      const comment: number = (await request(base, "POST", `/api/bookmarks/${host.id}/comments`, { token: alice, body: { body: "first comment" } })).json.comment.data.id;
      const page = await root.get("/admin");
      assert.equal(page.status, 200);
      assert.match(page.text, /id="au-\d+"[^>]*><td><a href="\/u\/alice">alice<\/a>/);
      assert.match(page.text, new RegExp(`id="ab-${host.id}"`));
      assert.match(page.text, /hosted &lt;link&gt;/);
      assert.match(page.text, /first comment/);
      assert.match(page.text, /live\?topic=admin/);

      const member = await openLive(base, "admin", { cookie: (await (async () => { const client = new PageClient(base); await client.logIn("alice"); return client; })()).cookieHeader(), origin: base });
      sockets.push(member.socket);
      assert.equal((await member.closed).code, 4403, "a member may not follow the admin topic");
      const anonymous = await openLive(base, "admin");
      sockets.push(anonymous.socket);
      assert.equal((await anonymous.closed).code, 4403);
      const panel = await openLive(base, "admin", { cookie: root.cookieHeader(), origin: base });
      sockets.push(panel.socket);

      const second = await createBookmark(base, alice, { title: "second one", url: "https://admin.example/2" });
      let fragment = await panel.next();
      assert.equal(fragment.target, "#admin-live");
      assert.match(fragment.content, new RegExp(`id="ab-${second.id}"`));
      await signUp(base, "carol");
      fragment = await panel.next();
      assert.match(fragment.content, /href="\/u\/carol">carol</);

      await root.get("/admin");
      const suspended = await root.post("/admin/suspend", { username: "alice" });
      assert.equal(suspended.status, 200);
      assert.match(suspended.text, /alice is suspended/);
      fragment = await panel.next();
      assert.match(fragment.content, /alice<\/a> <span class="badge">suspended<\/span>/);
      assert.ok(!fragment.content.includes(`id="ab-${second.id}"`), "a suspended user's bookmarks leave the panel");
      await root.post("/admin/unsuspend", { username: "alice" });
      fragment = await panel.next();
      assert.match(fragment.content, new RegExp(`id="ab-${second.id}"`));

      const deleted = await root.post("/admin/delete-bookmark", { id: String(second.id) });
      assert.match(deleted.text, new RegExp(`bookmark ${second.id} is deleted`));
      fragment = await panel.next();
      assert.ok(!fragment.content.includes(`id="ab-${second.id}"`));
      assert.equal(nasty.store.bookmarksById.has(second.id), false);

      assert.match(page.text, new RegExp(`form="admin-delete-comment" name="id" value="${comment}"`), "each comment row has a delete button");
      const commentDeleted = await root.post("/admin/delete-comment", { id: String(comment) });
      assert.equal(commentDeleted.status, 200);
      assert.match(commentDeleted.text, new RegExp(`comment ${comment} is deleted`));
      fragment = await panel.next();
      assert.ok(!fragment.content.includes(`id="ac-${comment}"`), "the comment leaves the live panel");
      assert.equal(nasty.store.commentsById.has(comment as never), false);

      const signupSwitched = await root.post("/admin/signup", { mode: "invite" });
      assert.match(signupSwitched.text, /sign-up is invite/);
      fragment = await panel.next();
      assert.match(fragment.content, /<strong id="signup-mode">invite<\/strong>/);
      const invited = await root.post("/admin/invites", {});
      const link = /<code class="secret" id="new-invite">([^<]+)<\/code>/.exec(invited.text)?.[1];
      assert.match(link ?? "", new RegExp(`^${base.replace(/[.]/g, "\\.")}/signup\\?invite=invite_`));
      const guest = new PageClient(base);
      await guest.get(new URL(link!).pathname + new URL(link!).search);
      assert.equal((await guest.post("/signup", { username: "guest", password: "long enough", invite: new URL(link!).searchParams.get("invite")! })).status, 303);

      await root.post("/admin/make-admin", { username: "carol" });
      assert.equal(nasty.store.userByName("carol")?.role, "admin");
      const refused = await root.post("/admin/delete-user", { username: "root" });
      assert.equal(refused.status, 409);
      assert.match(refused.text, /delete your own account from your settings/);
      await root.post("/admin/delete-user", { username: "carol" });
      assert.equal(nasty.store.userByName("carol"), undefined);
    } finally {
      for (const socket of sockets) socket.terminate();
      await nasty.close();
    }
  });
});
