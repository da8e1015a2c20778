// UrlIndex: answers exactly like a Map from a URL's key to its items in insertion order, even when every URL shares one slot.
import { test } from "node:test";
import assert from "node:assert/strict";
import { seededUrlHash, UrlIndex } from "../src/store/url-index.ts";
import { urlKey } from "../src/store/url-key.ts";

interface Item {
  url: string;
  name: string;
}

function reference(items: readonly Item[]): Map<string, Item[]> {
  const byUrl = new Map<string, Item[]>();
  for (const item of items) byUrl.set(urlKey(item.url), [...(byUrl.get(urlKey(item.url)) ?? []), item]);
  return byUrl;
}

function sameAsReference(index: UrlIndex<Item>, live: readonly Item[], urls: readonly string[]): void {
  const expected = reference(live);
  for (const url of urls) assert.deepEqual(index.get(url), expected.get(urlKey(url)), `items of ${url}`);
  assert.deepEqual(new Map([...index].sort((a, b) => (a[0] < b[0] ? -1 : 1))), new Map([...expected].sort((a, b) => (a[0] < b[0] ? -1 : 1))));
  assert.equal(index.size, live.length);
}

for (const [name, hash] of [["seeded hash", seededUrlHash(12345)], ["every URL in one slot", () => 7], ["two slots", (url: string) => url.length % 2]] as const) {
  test(`UrlIndex with ${name}: add, remove and get keep insertion order per URL key`, () => {
    const index = new UrlIndex<Item>(hash);
    const urls = ["https://a.example/", "https://b.example/x", "https://c.example/ü", "https://www.a.example#top", "HTTPS://B.example/x?utm_source=feed", "https://never.example/"];
    let live: Item[] = [];
    for (let step = 0; step < 60; step += 1) {
      const item = { url: urls[(step * 7) % 5]!, name: `item${step}` };
      index.add(item);
      live.push(item);
      if (step % 4 === 3) {
        const gone = live[(step * 5) % live.length]!;
        index.remove(gone);
        live = live.filter((other) => other !== gone);
      }
      sameAsReference(index, live, urls);
    }
    for (const item of [...live]) {
      index.remove(item);
      live = live.filter((other) => other !== item);
      sameAsReference(index, live, urls);
    }
    assert.throws(() => index.remove({ url: urls[0]!, name: "absent" }), /not indexed|missing/);
  });
}
