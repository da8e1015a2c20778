// Private stays private: no read answer to anyone but the owner carries a private bookmark.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createBookmark, request, signUp, startTestServer } from "./support/server.ts";
import { apiSurfaces } from "./support/surfaces.ts";

test("private bookmarks never appear in another user's or an anonymous answer", async () => {
  const nasty = await startTestServer();
  try {
    const base = nasty.url;
    const owner = await signUp(base, "owner");
    const other = await signUp(base, "other");
    const SECRET = "zz-secret-marker";
    const hidden = await createBookmark(base, owner, { title: `${SECRET} title`, url: "https://private.example/x", tags: ["secret-tag", "shared"], description: SECRET, public: false });
    await request(base, "POST", `/api/bookmarks/${hidden.id}/comments`, { token: owner, body: { body: `${SECRET} comment` } });
    const visible = await createBookmark(base, owner, { title: "public one", url: "https://public.example/", tags: ["shared"] });
    const turned = await createBookmark(base, owner, { title: `${SECRET} later private`, url: "https://turned.example/", tags: ["shared"] });
    await request(base, "PATCH", `/api/bookmarks/${turned.id}`, { token: owner, body: { bookmark: { public: false } } });

    const paths = apiSurfaces({ username: "owner", bookmarkIds: [hidden.id, turned.id], urls: ["https://private.example/x"], tags: ["shared", "secret-tag"] });
    for (const token of [undefined, other]) {
      for (const path of paths) {
        const reply = await request(base, "GET", path, { token });
        assert.ok(!reply.text.includes(SECRET) && !reply.text.includes("secret-tag"), `${token ? "other user" : "anonymous"} GET ${path} leaked: ${reply.text.slice(0, 200)}`);
      }
      const shared = await request(base, "GET", "/api/tags", { token });
      assert.deepEqual(shared.json.data.find((t: any) => t.tag === "shared"), { tag: "shared", count: 1 }, "tag counts count public bookmarks only");
    }
    const mine = await request(base, "GET", "/api/bookmarks?user=owner", { token: owner });
    assert.deepEqual(mine.json.data.map((b: any) => b.id), [turned.id, visible.id, hidden.id], "the owner sees their private ones");
    const ownTags = await request(base, "GET", "/api/tags?user=owner", { token: owner });
    assert.ok(ownTags.json.data.some((t: any) => t.tag === "secret-tag"));
    const comments = await request(base, "GET", `/api/bookmarks/${hidden.id}/comments`, { token: owner });
    assert.equal(comments.json.data[0].body, `${SECRET} comment`);
  } finally {
    await nasty.close();
  }
});
