// UrlIndex: answers exactly like a Map from a URL's key to its ords, oldest first, even when every URL shares one bucket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { seededUrlHash, UrlIndex } from "../src/store/url-index.ts";
import { urlKey } from "../src/store/url-key.ts";

function reference(live: ReadonlyMap<number, string>): Map<string, number[]> {
  const byUrl = new Map<string, number[]>();
  for (const [ord, url] of [...live].sort((a, b) => a[0] - b[0])) byUrl.set(urlKey(url), [...(byUrl.get(urlKey(url)) ?? []), ord]);
  return byUrl;
}

function sameAsReference(index: UrlIndex, live: ReadonlyMap<number, string>, urls: readonly string[]): void {
  const expected = reference(live);
  for (const url of urls) assert.deepEqual(index.get(url), expected.get(urlKey(url)) ?? [], `ords of ${url}`);
  const sorted = (entries: Iterable<[string, number[]]>) => new Map([...entries].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
  assert.deepEqual(sorted(index), sorted(expected));
  assert.equal(index.size, live.size);
}

for (const [name, hash] of [["seeded hash", seededUrlHash(12345)], ["every URL in one bucket", () => 7], ["two buckets", (url: string) => url.length % 2]] as const) {
  test(`UrlIndex with ${name}: add, remove and get answer every URL key's ords oldest first`, () => {
    const live = new Map<number, string>();
    const index = new UrlIndex((ord) => live.get(ord)!, hash);
    const urls = ["https://a.example/", "https://b.example/x", "https://c.example/ü", "https://www.a.example#top", "HTTPS://B.example/x?utm_source=feed", "https://never.example/"];
    // Past the first 1024 buckets and ords, so both grow.
    for (let ord = 1; ord <= 1500; ord += 1) {
      const url = urls[(ord * 7) % 5]!;
      index.add(ord, url);
      live.set(ord, url);
      if (ord % 4 === 3) {
        const gone = [...live.keys()][(ord * 5) % live.size]!;
        index.remove(gone);
        live.delete(gone);
      }
      if (ord < 60 || ord % 250 === 0) sameAsReference(index, live, urls);
    }
    sameAsReference(index, live, urls);
    for (const ord of [...live.keys()]) {
      index.remove(ord);
      live.delete(ord);
      if (live.size % 100 === 0) sameAsReference(index, live, urls);
    }
    sameAsReference(index, live, urls);
    assert.throws(() => index.remove(1), /not in the url index/);
  });
}
