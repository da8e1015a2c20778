// urlKey: the duplicate key of a URL, its variants, and its quick path held equal to the parser's on generated URLs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { urlKey, urlKeyByParser } from "../src/store/url-key.ts";
import { below, mulberry32, pick as pickWith, type Random } from "../src/simulator/random.ts";
import { SAME_URL_VARIANTS } from "./support/url-variants.ts";

/** Pairs that stay two URLs: each part of a URL that means something. */
const DIFFERENT_URLS: readonly (readonly [string, string])[] = [
  ["https://example.com/", "http://example.com/"],
  ["https://example.com/a", "https://example.com/A"],
  ["https://example.com/a", "https://example.com/a/"],
  ["https://example.com:8443/", "https://example.com/"],
  ["https://example.com/?a=1", "https://example.com/?a=2"],
  ["https://example.com/?id=1&id=2", "https://example.com/?id=2&id=1"],
  ["https://blog.example.com/", "https://example.com/"],
  ["https://example.com/?utm=1", "https://example.com/"],
];

test("variants of one URL have one key; URLs that differ in meaning keep theirs", () => {
  for (const [variant, plain] of SAME_URL_VARIANTS) {
    assert.equal(urlKey(variant), urlKey(plain), `${variant} and ${plain}`);
    assert.equal(urlKeyByParser(variant), urlKey(variant), `${variant}: both paths agree`);
  }
  for (const [a, b] of DIFFERENT_URLS) assert.notEqual(urlKey(a), urlKey(b), `${a} and ${b} differ`);
  assert.equal(urlKey("https://www.example.com/?b=2&utm_source=x&a=1#top"), "https://example.com/?a=1&b=2");
});

test("old logs' canonical form (URL.href) and the form a person types have one key", () => {
  for (const given of ["https://example.com", "https://Example.com/a b", "https://example.com/ä?q=ü", "https://bücher.example/", "http://127.1/", "https://example.com/./a/../b"]) {
    assert.equal(urlKey(new URL(given).href), urlKey(given), given);
  }
});

/** A URL built from pieces the quick path takes and pieces it must leave to the parser. */
function generatedUrl(random: Random): string {
  const pick = <T>(items: readonly T[]): T => pickWith(random, items);
  const scheme = pick(["https", "http", "HTTP", "Https"]);
  const host = pick(["example.com", "www.example.com", "WWW.Example.COM", "a-b.example.org", "xn--bcher-kva.example", "bücher.example", "127.0.0.1", "127.1", "sub.www.example.com", "localhost", "[::1]", "0x7f.1", "a.b.c.d.e", "a-.b-.com", "-a.com", "a..b.com", "1a.2b", "a.1b", "example.com."]);
  const port = pick(["", "", "", ":443", ":80", ":8080", ":0443"]);
  const user = pick(["", "", "", "user@", "user:pw@"]);
  const segments = Array.from({ length: below(random, 4) }, () => pick(["a", "B", "%41", "%2e", ".", "..", "x y", "é", "a'b", "[x]", "~u", "a:b", "@", "%zz", "", "index.html", "a|b", "a`b"]));
  const path = segments.length === 0 && below(random, 2) === 0 ? "" : `/${segments.join("/")}`;
  const pairs = Array.from({ length: below(random, 5) }, () => `${pick(["a", "b", "B", "utm_source", "UTM_x", "fbclid", "q", "id", "x y", "é", ""])}${pick(["", "=", "=1", "=2", "=a b", "=%20", "='", "=é", "=a=b"])}`);
  const query = pairs.length === 0 ? pick(["", "?"]) : `?${pairs.join("&")}`;
  const fragment = pick(["", "", "#", "#top", "#a b", "#é"]);
  const padding = pick(["", "", " "]);
  return `${padding}${scheme}://${user}${host}${port}${path}${query}${fragment}${padding}`;
}

test("the quick path gives the parser's key on generated URLs", () => {
  const seed = Number(process.env.URL_KEY_SEED ?? 12);
  const random = mulberry32(seed);
  let quick = 0;
  for (let index = 0; index < 20_000; index += 1) {
    const url = generatedUrl(random);
    assert.equal(urlKey(url), urlKeyByParser(url), `seed ${seed}, url ${JSON.stringify(url)}`);
    if (/^https?:\/\/[a-z]/.test(url)) quick += 1;
  }
  assert.ok(quick > 1000, `the generator reached the quick path (${quick} candidates)`);
});
