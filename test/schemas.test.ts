// The quick accept path of the input schemas (objectOf's `accepts`) agrees with superstruct on every input.
import assert from "node:assert/strict";
import { test } from "node:test";
import { validate } from "superstruct";
import { CreateBookmark, UpdateBookmark, parseInput, type Schema } from "../src/commands/schemas.ts";
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
  Array.from({ length: 33 }, (_, index) => `tag${index}`),
  {},
  { nested: true },
];

/** A valid value per field, picked most of the time so that whole inputs are often valid too. */
const VALID: Record<string, unknown[]> = {
  title: ["A title", "  padded title  ", "x".repeat(500)],
  url: ["https://example.com/x", " HTTP://Example.COM/path "],
  description: ["", "some words", null],
  notes: ["", "\n\n    code\r\n# Heading  ", "n".repeat(10_000), null],
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
