// Input schemas (superstruct): turn untrusted JSON, forms and frames into typed, normalized commands.
import { array, boolean, coerce, defaulted, nullable, optional, refine, string, type, validate, type Struct } from "superstruct";
import { invalid, type FieldErrors } from "../errors.ts";

export const LIMITS = {
  titleCharsMax: 500,
  urlCharsMax: 2048,
  descriptionCharsMax: 10_000,
  tagCharsMax: 64,
  tagsPerBookmarkMax: 32,
  commentCharsMax: 1000,
  usernameCharsMin: 3,
  usernameCharsMax: 32,
  passwordCharsMin: 8,
  passwordCharsMax: 1024,
  tokenNameCharsMax: 100,
} as const;

/** An absolute http(s) URL with a host, in canonical form, or null. */
export function normalizeUrl(raw: string): string | null {
  const trimmed = raw.trim();
  if (!/^https?:\/\//i.test(trimmed)) return null;
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return null;
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") return null;
  return url.href;
}

export function normalizeTags(tags: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const tag of tags) {
    const normal = tag.trim().toLowerCase().replace(/\s+/g, "-");
    if (normal !== "") seen.add(normal);
  }
  return [...seen];
}

const trimmedString = (struct: Struct<string, null>) => coerce(struct, string(), (value) => value.trim());

const lengthBetween = (name: string, min: number, max: number) =>
  trimmedString(
    refine(string(), name, (value) => {
      if (value.length < min) return min === 1 ? "can't be blank" : `is too short (at least ${min} characters)`;
      if (value.length > max) return `is too long (at most ${max.toLocaleString("en")} characters)`;
      return true;
    }),
  );

export const Title = lengthBetween("title", 1, LIMITS.titleCharsMax);

export const Url = coerce(
  refine(string(), "url", (value) => {
    if (normalizeUrl(value) === null) return "must be a valid URL";
    if (value.length > LIMITS.urlCharsMax) return `must be a valid URL of at most ${LIMITS.urlCharsMax.toLocaleString("en")} characters`;
    return true;
  }),
  string(),
  (value) => normalizeUrl(value) ?? value,
);

export const Description = coerce(
  refine(string(), "description", (value) => value.length <= LIMITS.descriptionCharsMax || `is too long (at most ${LIMITS.descriptionCharsMax.toLocaleString("en")} characters)`),
  nullable(string()),
  (value) => (value ?? "").trim(),
);

export const Public = coerce(boolean(), nullable(boolean()), (value) => value ?? true);

const Tag = refine(string(), "tag", (value) => {
  if (value.length > LIMITS.tagCharsMax) return `must each be at most ${LIMITS.tagCharsMax} characters ("${value.slice(0, 20)}…" is longer)`;
  if (/[\u0000-\u001f\u007f,]/.test(value)) return "may not contain commas or control characters";
  return true;
});

/** Tags as an array or a comma-separated string ("rust, web"); trimmed, lower-cased, de-duplicated. */
export const Tags = coerce(
  coerce(
    refine(array(Tag), "tags", (value) => value.length <= LIMITS.tagsPerBookmarkMax || `must be at most ${LIMITS.tagsPerBookmarkMax} tags`),
    array(string()),
    normalizeTags,
  ),
  nullable(string()),
  (value) => (value ?? "").split(","),
);

export const CreateBookmark = type({
  title: Title,
  url: Url,
  description: defaulted(Description, ""),
  public: defaulted(Public, true),
  tags: defaulted(Tags, []),
});

export const UpdateBookmark = type({
  title: optional(Title),
  url: optional(Url),
  description: optional(Description),
  public: optional(Public),
  tags: optional(Tags),
});

export const Username = coerce(
  refine(string(), "username", (value) =>
    new RegExp(`^[a-z0-9_-]{${LIMITS.usernameCharsMin},${LIMITS.usernameCharsMax}}$`).test(value) ||
    `must be ${LIMITS.usernameCharsMin}–${LIMITS.usernameCharsMax} characters of a-z, 0-9, _ and -`),
  string(),
  (value) => value.trim().toLowerCase(),
);

export const Password = refine(string(), "password", (value) => {
  if (value.length < LIMITS.passwordCharsMin) return `is too short (at least ${LIMITS.passwordCharsMin} characters)`;
  if (value.length > LIMITS.passwordCharsMax) return `is too long (at most ${LIMITS.passwordCharsMax} characters)`;
  return true;
});

export const Registration = type({ username: Username, password: Password });
export const Credentials = type({ username: Username, password: string() });
export const CommentInput = type({ body: lengthBetween("body", 1, LIMITS.commentCharsMax) });
export const TokenInput = type({ name: defaulted(lengthBetween("name", 1, LIMITS.tokenNameCharsMax), "api") });

/** Drops the unknown fields `type()` lets through, so they never reach an event. */
function pickKnown<T>(struct: Struct<T, any>, value: T): T {
  const schema = struct.schema as Record<string, unknown> | null;
  if (!schema || typeof value !== "object" || value === null) return value;
  const known: Record<string, unknown> = {};
  for (const key of Object.keys(schema)) {
    const field = (value as Record<string, unknown>)[key];
    if (field !== undefined) known[key] = field;
  }
  return known as T;
}

function describeFailure(failure: { value: unknown; type: string; refinement: string | undefined; message: string }): string {
  if (failure.refinement !== undefined) return failure.message;
  if (failure.value === undefined) return "can't be blank";
  if (failure.type === "type" || failure.type === "object") return "must be an object";
  if (failure.type === "array") return "must be a list or a comma-separated string";
  return `must be ${/^[aeiou]/.test(failure.type) ? "an" : "a"} ${failure.type}`;
}

/**
 * Validates and normalizes `value` with `struct`; throws HttpError(422) with every failing field
 * as `{"errors":{"field":["message"]}}`. Unknown fields are ignored, wrong types refused.
 */
export function parseInput<T>(struct: Struct<T, any>, value: unknown): T {
  const [error, result] = validate(value, struct, { coerce: true });
  if (!error) return pickKnown(struct, result);
  const errors: FieldErrors = {};
  for (const failure of error.failures()) {
    const field = failure.path.length > 0 ? String(failure.path[0]) : "input";
    (errors[field] ??= []).push(describeFailure(failure));
  }
  throw invalid(errors);
}
