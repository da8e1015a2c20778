// text.ts: what each field shape accepts, how imports repair text, and what output escaping lets through.
import { test } from "node:test";
import assert from "node:assert/strict";
import { charCount, charsOver, checkParams, printable, repairText, textProblem, truncate, truncateChars, uriComponent } from "../src/text.ts";
import { escapeHtml } from "../src/render/escape.ts";
import { HttpError } from "../src/errors.ts";

test("textProblem: every shape refuses lone surrogates and the 66 non-characters; control characters by shape", () => {
  const nonCharacters = [...Array.from({ length: 32 }, (_, index) => 0xfdd0 + index), ...Array.from({ length: 17 }, (_, plane) => [plane * 0x10000 + 0xfffe, plane * 0x10000 + 0xffff]).flat()];
  assert.equal(nonCharacters.length, 66);
  for (const shape of ["line", "lines", "any"] as const) {
    for (const codePoint of nonCharacters) assert.match(textProblem(`a${String.fromCodePoint(codePoint)}b`, shape) ?? "", /non-character U\+/, `${shape} ${codePoint.toString(16)}`);
    for (const lone of ["\ud800", "a\udbffb", "\udc00", "x\udfff"]) assert.match(textProblem(lone, shape) ?? "", /lone UTF-16 surrogate/, shape);
    for (const fine of ["", "plain", "Ünïcödé 🚀 \u{10FFFD}", "\ufffd", "\ufdcf\ufdf0", "\u{1FFFD}"]) assert.equal(textProblem(fine, shape), null, `${shape} ${JSON.stringify(fine)}`);
  }
  for (const control of ["\u0000", "\u0007", "\u001b", "\u007f", "\u0080", "\u009f"]) {
    assert.match(textProblem(`a${control}`, "line") ?? "", /control characters/);
    assert.match(textProblem(`a${control}`, "lines") ?? "", /control characters/);
    assert.equal(textProblem(`a${control}`, "any"), null);
  }
  for (const whitespace of ["\t", "\n", "\r"]) {
    assert.match(textProblem(`a${whitespace}b`, "line") ?? "", /line breaks/);
    assert.equal(textProblem(`a${whitespace}b`, "lines"), null);
  }
  assert.match(textProblem("x\ud800", "line") ?? "", /\(U\+D800\)/, "the message names the code unit");
});

test("repairText: U+FFFD for what the shape cannot hold, counted; a line's tabs and breaks become spaces", () => {
  assert.deepEqual(repairText("fine", "line"), { text: "fine", replaced: 0 });
  assert.deepEqual(repairText("a\ud800b\uffff\u0007\tc\nd", "line"), { text: "a\ufffdb\ufffd\ufffd c d", replaced: 3 });
  assert.deepEqual(repairText("a\tb\r\nc\u0000", "lines"), { text: "a\tb\r\nc\ufffd", replaced: 1 });
  assert.deepEqual(repairText("a\u0000\ud83d\ude00\udc00", "any"), { text: "a\u0000\ud83d\ude00\ufffd", replaced: 1 });
});

test("printable and escapeHtml: well formed, nothing XML 1.0 forbids, the five specials escaped", () => {
  assert.equal(printable("ok 🚀"), "ok 🚀");
  assert.equal(printable("a\ud800\u0001\t\n\r\ufffe\u0085"), "a\ufffd\ufffd\t\n\r\ufffd\u0085");
  assert.equal(escapeHtml(`<a href="x">'&'</a>\ud800`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;\ufffd");
});

test("uriComponent never throws; truncate never splits a surrogate pair", () => {
  assert.throws(() => encodeURIComponent("x\ud800"), URIError);
  assert.equal(uriComponent("x\ud800"), "x%EF%BF%BD");
  assert.equal(uriComponent("a+b c"), "a%2Bb%20c");
  assert.equal(truncate("ab🚀", 3), "ab");
  assert.equal(truncate("ab🚀", 4), "ab🚀");
  assert.equal(truncate("abc", 2), "ab");
});

test("charCount counts code points (an emoji is one, a lone surrogate one); charsOver and truncateChars agree with it", () => {
  assert.deepEqual(["", "abc", "🚀", "a🚀b", "\ud800", "\udc00\ud800", "🚀".repeat(10_000)].map(charCount), [0, 3, 1, 3, 1, 2, 10_000]);
  assert.equal(charsOver("🚀".repeat(10), 10), false, "20 UTF-16 units, 10 characters");
  assert.equal(charsOver("🚀".repeat(11), 10), true);
  assert.equal(truncateChars("ab🚀c", 3), "ab🚀");
  assert.equal(truncateChars("🚀".repeat(5), 2), "🚀🚀");
  assert.equal(truncateChars("abc", 5), "abc");
  assert.equal(truncateChars("a\ud800b", 2), "a\ud800");
});

test("checkParams: 422 naming the first parameter that is not valid Unicode", () => {
  assert.equal(checkParams(new URLSearchParams("a=1&b=%F0%9F%9A%80")).get("b"), "🚀");
  assert.throws(() => checkParams(new URLSearchParams("a=1&tag=%EF%BF%BF")), (error) => error instanceof HttpError && error.status === 422 && JSON.stringify(error.extra) === JSON.stringify({ errors: { tag: ["contains the Unicode non-character U+FFFF"] } }));
});
