// The quick accept path of the input schemas (objectOf's `accepts`) agrees with superstruct on every input.
import assert from "node:assert/strict";
import { test } from "node:test";
import { validate } from "superstruct";
import { BulkEditInput, CreateBookmark, LIMITS, TagRename, UpdateBookmark, parseInput, type Schema } from "../src/commands/schemas.ts";
import { HttpError } from "../src/errors.ts";
import { mulberry32 } from "../src/simulator/random.ts";

/** Values of every kind a client might send, valid and not, for any field. */
const CANDIDATES: unknown[] = [
  undefined,
  null,
  true,
  false,
  0,
  42,
  Date.UTC(2024, 4, 1),
  "",
  "   ",
  "A title",
  "  padded title  ",
  "x".repeat(500),
  "x".repeat(501),
  "y".repeat(10_001),
  "https://example.com/a?b=c",
  " HTTP://Example.COM/path ",
  "javascript:alert(1)",
  "ftp://example.com/",
  "https://",
  "/relative/path",
  `https://example.com/${"p".repeat(2040)}`,
  "rust, web",
  "rust,, Web ,rust",
  "a\u0001b",
  "lone \ud800 surrogate",
  "non-character \ufdd0",
  "line\nbreak",
  "https://example.com/\ud83d",
  ["ok", "x\uffff"],
  `${"t".repeat(65)}, ok`,
  Array.from({ length: 33 }, (_, index) => `tag${index}`).join(","),
  "2024-05-01T12:00:00Z",
  "2024-05-01",
  "1980-01-01",
  "not a date",
  [],
  ["rust", "web"],
  [" Rust ", "rust", "WEB"],
  ["ok", 5],
  ["a,b", "c"],
  "\u{1F600}".repeat(500),
  "\u{1F600}".repeat(501),
  "\u{1F600}".repeat(10_001),
  ["\u{1F600}".repeat(64)],
  ["\u{1F600}".repeat(65)],
  Array.from({ length: 33 }, (_, index) => `tag${index}`),
  {},
  { nested: true },
];

/** A valid value per field, picked most of the time so that whole inputs are often valid too. */
const VALID: Record<string, unknown[]> = {
  title: ["A title", "  padded title  ", "x".repeat(500)],
  url: ["https://example.com/x", " HTTP://Example.COM/path "],
  description: ["", "some words", null],
  notes: ["", "\n\n    code\r\n# Heading  ", "n".repeat(10_000), "\u{1F600}".repeat(10_000), null],
  public: [true, false, null],
  tags: ["rust, web", ["rust", "web"], [" Rust ", "rust", "WEB"], [], null],
  unread: [true, false, null],
  inserted_at: ["2024-05-01T12:00:00Z", Date.UTC(2024, 4, 1)],
  extra: [1, "anything"],
};
const FIELDS = Object.keys(VALID);

function randomInput(next: () => number): unknown {
  const roll = next();
  if (roll < 0.03) return CANDIDATES[Math.floor(next() * CANDIDATES.length)];
  if (roll < 0.05) return [{ title: "t", url: "https://example.com/" }];
  const input: Record<string, unknown> = {};
  for (const name of FIELDS) {
    const pick = next();
    if (pick < 0.2) continue;
    const pool = pick < 0.96 ? VALID[name]! : CANDIDATES;
    input[name] = pool[Math.floor(next() * pool.length)];
  }
  return input;
}

function outcome<Raw, Parsed>(schema: Schema<Raw, Parsed>, input: unknown): { ok: true; value: Parsed } | { ok: false; errors: unknown } {
  try {
    return { ok: true, value: parseInput(schema, input) };
  } catch (error) {
    assert.ok(error instanceof HttpError, `parseInput threw ${String(error)}`);
    return { ok: false, errors: error.extra };
  }
}

const SCHEMAS: [string, Schema<unknown, unknown>][] = [
  ["CreateBookmark", CreateBookmark as Schema<unknown, unknown>],
  ["UpdateBookmark", UpdateBookmark as Schema<unknown, unknown>],
];

for (const [name, schema] of SCHEMAS) {
  test(`${name}: the quick accept path agrees with superstruct on random inputs`, () => {
    const seed = Number(process.env.SCHEMA_SEED ?? Date.now() % 1_000_000);
    const next = mulberry32(seed); // printed on failure, replayed with SCHEMA_SEED
    const accepts = schema.accepts;
    assert.ok(accepts, `${name} has a quick accept path`);
    let accepted = 0;
    let refused = 0;
    for (let round = 0; round < 20_000; round += 1) {
      const input = randomInput(next);
      const [error, raw] = validate(input, schema.struct);
      const quick: boolean = accepts(input);
      assert.equal(quick, error === undefined, `seed ${seed}, round ${round}: accepts says ${quick}, superstruct says ${error?.message ?? "valid"} for ${JSON.stringify(input)}`);
      if (quick) {
        accepted += 1;
        assert.deepEqual(outcome(schema, input), { ok: true, value: schema.normalize(raw) });
      } else {
        refused += 1;
        assert.equal(outcome(schema, input).ok, false);
      }
    }
    // Both sides are exercised, or the agreement above proves nothing.
    assert.ok(accepted > 1000 && refused > 1000, `seed ${seed}: ${accepted} accepted, ${refused} refused`);
  });
}

test("CreateBookmark: a valid bookmark is normalized the same way on the quick path", () => {
  const parsed = parseInput(CreateBookmark, { title: "  Hi  ", url: " HTTPS://Example.com/a ", tags: " Rust, web,rust ", public: false, extra: 1 });
  assert.deepEqual(parsed, { title: "Hi", url: "HTTPS://Example.com/a", description: "", public: false, tags: ["rust", "web"] }, "the URL is kept as given, trimmed");
});

/** The 422's message for `field` when `input` is refused, or null when it is accepted. */
function refusal<Raw, Parsed>(schema: Schema<Raw, Parsed>, input: unknown, field: string): string | null {
  const result = outcome(schema, input);
  if (result.ok) return null;
  return ((result.errors as { errors: Record<string, string[]> }).errors[field] ?? []).join("; ");
}

test("limits in characters count code points: an emoji is one character, however many UTF-16 units", () => {
  const emoji = (count: number) => "\u{1F600}".repeat(count);
  const url = (count: number) => `https://e.example/${emoji(count - "https://e.example/".length)}`;
  const cases: [string, (count: number) => unknown, number][] = [
    ["title", emoji, LIMITS.titleCharsMax],
    ["description", emoji, LIMITS.descriptionCharsMax],
    ["notes", emoji, LIMITS.notesCharsMax],
    ["url", url, LIMITS.urlCharsMax],
    ["tags", (count) => [emoji(count)], LIMITS.tagCharsMax],
  ];
  for (const [field, value, max] of cases) {
    const base = { title: "t", url: "https://ok.example" };
    assert.equal(refusal(CreateBookmark, { ...base, [field]: value(max) }, field), null, `${field}: ${max} emoji are ${max} characters`);
    assert.match(refusal(CreateBookmark, { ...base, [field]: value(max + 1) }, field) ?? "", new RegExp(`at most ${max.toLocaleString("en")} characters`), `${field}: ${max + 1} emoji are too many`);
    if (field !== "url") assert.equal(refusal(UpdateBookmark, { [field]: value(max) }, field), null, `${field}: the same limit when changed`);
  }
  assert.equal(refusal(TagRename, { name: emoji(LIMITS.tagCharsMax) }, "name"), null);
  assert.match(refusal(TagRename, { name: emoji(LIMITS.tagCharsMax + 1) }, "name") ?? "", /at most 64 characters/);
});

test("a tag never holds a comma: an array's tag with one is refused (create, change, bulk); the string form splits on them", () => {
  for (const [schema, input] of [
    [CreateBookmark, { title: "t", url: "https://ok.example", tags: ["a,b", "c"] }],
    [UpdateBookmark, { tags: ["a,b"] }],
    [BulkEditInput, { ids: [1], action: "add_tags", tags: ["a,b"] }],
  ] as [Schema<unknown, unknown>, unknown][]) {
    assert.match(refusal(schema, input, "tags") ?? "", /must each be one tag without commas \("a,b" has one/, JSON.stringify(input));
  }
  assert.deepEqual(parseInput(CreateBookmark, { title: "t", url: "https://ok.example", tags: "a,b, C" }).tags, ["a", "b", "c"]);
  assert.deepEqual(parseInput(BulkEditInput, { ids: [1], action: "add_tags", tags: "a,b" }).tags, ["a", "b"]);
  assert.match(refusal(TagRename, { name: "a,b" }, "name") ?? "", /no commas/, "a rename refused commas already");
});
