// Input schemas (superstruct): turn untrusted JSON, forms and frames into typed, normalized commands.
import { define, optional, type, validate, type Infer, type Struct } from "superstruct";
import { SIGNUP_MODES, type BookmarkDate, type BookmarkFields, type SignupMode } from "../events.ts";
import { invalid, type FieldErrors } from "../errors.ts";
import { charCount, charsOver, textProblem, truncateChars, type TextShape } from "../text.ts";

/** Every `…CharsMax`/`…CharsMin` counts characters as people do: Unicode code points (text.ts charCount), so an emoji is one. */
export const LIMITS = {
  titleCharsMax: 500,
  urlCharsMax: 2048,
  descriptionCharsMax: 10_000,
  notesCharsMax: 10_000,
  tagCharsMax: 64,
  tagsPerBookmarkMax: 32,
  commentCharsMax: 1000,
  usernameCharsMin: 3,
  usernameCharsMax: 32,
  passwordCharsMin: 8,
  passwordCharsMax: 1024,
  tokenNameCharsMax: 100,
  /** Bookmarks one bulk edit may name (POST /api/bookmarks/bulk): one append, one transaction. */
  bulkIdsMax: 1000,
} as const;

/**
 * The last input and answer of validUrl and tagList: a field's check and its normalization
 * ask the same question of the same value one after the other, and parsing a URL is the dearer half.
 */
let lastUrl: { raw: string; valid: string | null } = { raw: "", valid: null };
let lastTags: { value: string | readonly string[] | null; tags: readonly string[] } = { value: null, tags: [] };

/**
 * The URL as the person gave it (trimmed) when it is an absolute http(s) URL with a host, else
 * null. It is stored and answered as given; duplicates are found by its key (store/url-key.ts).
 */
export function validUrl(raw: string): string | null {
  if (raw === lastUrl.raw) return lastUrl.valid;
  const valid = parseUrl(raw);
  lastUrl = { raw, valid };
  return valid;
}

function parseUrl(raw: string): string | null {
  const trimmed = raw.trim();
  if (!/^https?:\/\//i.test(trimmed)) return null;
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return null;
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") return null;
  return trimmed;
}

export function normalizeTags(tags: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const tag of tags) {
    const normal = tag.trim().toLowerCase().replace(/\s+/g, "-");
    if (normal !== "") seen.add(normal);
  }
  return [...seen];
}

type Check = (value: unknown) => true | string;

/** Each field struct's own check, so objectOf can run the checks without superstruct's machinery. */
const fieldChecks = new WeakMap<Struct<any, any>, Check>();

/** A superstruct field whose check returns true or the message for the user. */
function field<T>(name: string, check: Check): Struct<T, null> {
  const struct = define<T>(name, (value) => check(value));
  fieldChecks.set(struct, check);
  return struct;
}

type Optionals<O extends Record<string, Struct<any, null>>> = { [K in keyof O]: Struct<Infer<O[K]> | undefined, null> };

/**
 * `type({...required, ...optional(each of optionals)})`, plus `accepts`: the same field checks run
 * directly, true exactly when superstruct would accept (test/schemas.test.ts holds them equal on
 * random inputs). parseInput asks `accepts` first and only runs superstruct to word the errors:
 * its iterators cost about 8 µs per bookmark on the busiest write path, the checks well under 1.
 */
function objectOf<R extends Record<string, Struct<any, null>>, O extends Record<string, Struct<any, null>>>(required: R, optionals: O) {
  const shape: Record<string, Struct<any, any>> = { ...required };
  for (const [key, struct] of Object.entries(optionals)) shape[key] = optional(struct);
  const checksOf = (fields: Record<string, Struct<any, null>>): [string, Check][] =>
    Object.entries(fields).map(([key, struct]) => {
      const check = fieldChecks.get(struct);
      if (!check) throw new Error(`objectOf: field ${key} was not made by field()`);
      return [key, check];
    });
  const requiredChecks = checksOf(required);
  const optionalChecks = checksOf(optionals);
  const accepts = (value: unknown): boolean => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
    const fields = value as Record<string, unknown>;
    for (const [key, check] of requiredChecks) if (check(fields[key]) !== true) return false;
    for (const [key, check] of optionalChecks) {
      const given = fields[key];
      if (given !== undefined && check(given) !== true) return false;
    }
    return true;
  };
  return { struct: type(shape as R & Optionals<O>), accepts };
}

function lengthCheck(min: number, max: number, text: string): true | string {
  if (text.length < min || (text.length < 2 * min && charCount(text) < min)) return min === 1 ? "can't be blank" : `is too short (at least ${min} characters)`;
  if (charsOver(text, max)) return `is too long (at most ${max.toLocaleString("en")} characters)`;
  return true;
}

/** A required string of this shape (src/text.ts), judged after trimming. */
const trimmedText = (name: string, min: number, max: number, shape: TextShape) =>
  field<string>(name, (value) => {
    if (value === undefined || value === null) return "can't be blank";
    if (typeof value !== "string") return "must be a string";
    const trimmed = value.trim();
    return textProblem(trimmed, shape) ?? lengthCheck(min, max, trimmed);
  });

export const Title = trimmedText("title", 1, LIMITS.titleCharsMax, "line");

/** A new bookmark's title: missing, null or blank means "fetch it" (its URL stands in meanwhile). */
const NewTitle = field<string | null>("title", (value) => {
  if (value === null) return true;
  if (typeof value !== "string") return "must be a string";
  const trimmed = value.trim();
  return trimmed === "" || (textProblem(trimmed, "line") ?? lengthCheck(1, LIMITS.titleCharsMax, trimmed));
});

/** Asks for the page's metadata even when a title is given (it fills only what was not given). */
const FetchMetadata = field<boolean | null>("fetch_metadata", (value) => value === null || typeof value === "boolean" || "must be a boolean");

export const Url = field<string>("url", (value) => {
  if (value === undefined || value === null) return "can't be blank";
  if (typeof value !== "string") return "must be a valid URL";
  const problem = textProblem(value.trim(), "line");
  if (problem !== null) return problem;
  if (validUrl(value) === null) return "must be a valid URL";
  if (charsOver(value.trim(), LIMITS.urlCharsMax)) return `must be a valid URL of at most ${LIMITS.urlCharsMax.toLocaleString("en")} characters`;
  return true;
});

export const Description = field<string | null>("description", (value) => {
  if (value === null) return true;
  if (typeof value !== "string") return "must be a string";
  const trimmed = value.trim();
  return textProblem(trimmed, "lines") ?? (!charsOver(trimmed, LIMITS.descriptionCharsMax) || `is too long (at most ${LIMITS.descriptionCharsMax.toLocaleString("en")} characters)`);
});

/**
 * Notes as stored: Markdown, so leading indentation means something (an indented first line is
 * code) and only blank lines before the text and whitespace after it are dropped. Line breaks
 * become LF (Markdown reads CR LF, CR and LF alike; a textarea posts CR LF, which would otherwise
 * count two characters against the limit where the browser counted one).
 */
export function notesText(raw: string): string {
  return raw.replace(/\r\n?/g, "\n").replace(/^(?:[ \t]*\n)+/, "").trimEnd();
}

/** The owner's Markdown notes (linkding's `notes`): free text like a description, at most LIMITS.notesCharsMax characters. */
export const Notes = field<string | null>("notes", (value) => {
  if (value === null) return true;
  if (typeof value !== "string") return "must be a string";
  const text = notesText(value);
  return textProblem(text, "lines") ?? (!charsOver(text, LIMITS.notesCharsMax) || `is too long (at most ${LIMITS.notesCharsMax.toLocaleString("en")} characters)`);
});

export const Public = field<boolean | null>("public", (value) => value === null || typeof value === "boolean" || "must be a boolean");

export const Unread = field<boolean | null>("unread", (value) => value === null || typeof value === "boolean" || "must be a boolean");

/** Dates before this (1990) are taken for mistakes: no web bookmark is older. */
const DATE_MS_MIN = Date.UTC(1990, 0, 1);
/** A bookmark may be dated up to a day ahead (clocks and time zones disagree), not more. */
const DATE_AHEAD_MS_MAX = 24 * 60 * 60 * 1000;

/** Milliseconds since 1970 from an ISO 8601 string or a number of milliseconds; null when neither. */
export function parseDate(value: unknown): number | null {
  if (typeof value === "number") return Number.isInteger(value) ? value : null;
  if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim())) return null;
  const ms = Date.parse(value.trim());
  return Number.isNaN(ms) ? null : ms;
}

/** A bookmark's own date (imports, Pinboard's dt): ISO 8601 or milliseconds, 1990 to tomorrow. */
export const InsertedAt = field<string | number>("inserted_at", (value) => {
  const ms = parseDate(value);
  if (ms === null) return "must be an ISO 8601 date (2024-05-01T12:00:00Z) or milliseconds since 1970";
  if (ms < DATE_MS_MIN || ms > Date.now() + DATE_AHEAD_MS_MAX) return "must be between 1990 and tomorrow";
  return true;
});

/**
 * Tags as an array or a comma-separated string ("rust, web"); normalized by tagList. A tag never
 * holds a comma (the string form, Netscape exports and Pinboard split on commas; a rename refuses
 * one), so an array's tag with one is refused rather than split: the client meant something else.
 * Only input is checked: a tag logged with a comma before this rule still replays.
 */
export const Tags = field<string | string[] | null>("tags", (value) => {
  if (value === null) return true;
  const isList = Array.isArray(value) && value.every((tag) => typeof tag === "string");
  if (typeof value !== "string" && !isList) return "must be a list or a comma-separated string";
  const withComma = isList ? (value as string[]).find((tag) => tag.includes(",")) : undefined;
  if (withComma !== undefined) return `must each be one tag without commas ("${truncateChars(withComma, 20)}" has one; send its tags as separate items)`;
  const tags = tagList(value as string | string[]);
  if (tags.length > LIMITS.tagsPerBookmarkMax) return `must be at most ${LIMITS.tagsPerBookmarkMax} tags`;
  for (const tag of tags) {
    if (charsOver(tag, LIMITS.tagCharsMax)) return `must each be at most ${LIMITS.tagCharsMax} characters ("${truncateChars(tag, 20)}…" is longer)`;
    const problem = textProblem(tag, "line");
    if (problem !== null) return `must each be valid text: a tag ${problem}`;
  }
  return true;
});

/** Tags as given (an array, or a comma-separated string), normalized; a fresh array every call. */
export function tagList(value: string | readonly string[] | null | undefined): string[] {
  if (value === null || value === undefined) return [];
  // An array may have changed since it was last seen (same object, other contents): only strings are remembered.
  if (typeof value === "string" && value === lastTags.value) return [...lastTags.tags];
  const tags = normalizeTags(typeof value === "string" ? value.split(",") : value);
  if (typeof value === "string") lastTags = { value, tags: [...tags] };
  return tags;
}

/** A superstruct schema and the normalization applied to what it accepted. */
export interface Schema<Raw, Parsed> {
  struct: Struct<Raw, any>;
  /** True exactly when `struct` accepts the value, only quicker (objectOf). */
  accepts?: (value: unknown) => boolean;
  normalize: (raw: Raw) => Parsed;
}

const createBookmarkShape = objectOf({ url: Url }, { title: NewTitle, description: Description, notes: Notes, public: Public, tags: Tags, unread: Unread, inserted_at: InsertedAt, fetch_metadata: FetchMetadata });
const createBookmarkStruct = createBookmarkShape.struct;
/** `unread`, `notes` and `inserted_at` are left out of the event unless set, keeping the log small. */
export const CreateBookmark: Schema<Infer<typeof createBookmarkStruct>, BookmarkFields & BookmarkDate> = {
  struct: createBookmarkStruct,
  accepts: createBookmarkShape.accepts,
  normalize: (raw) => {
    const fields: BookmarkFields & BookmarkDate = {
      title: raw.title?.trim() || raw.url.trim(),
      url: raw.url.trim(),
      description: (raw.description ?? "").trim(),
      public: raw.public ?? true,
      tags: tagList(raw.tags),
    };
    if (raw.unread === true) fields.unread = true;
    const notes = raw.notes ? notesText(raw.notes) : "";
    if (notes !== "") fields.notes = notes;
    if (raw.inserted_at !== undefined) fields.inserted_at = parseDate(raw.inserted_at)!;
    return fields;
  },
};

/** Which fields of a new bookmark the page's metadata may fill: those not given. */
export interface MetadataWanted {
  title: boolean;
  description: boolean;
}

const blank = (value: unknown) => value === undefined || value === null || (typeof value === "string" && value.trim() === "");

/**
 * Whether saving `input` (accepted by CreateBookmark) asks for a metadata fetch, and which fields
 * it may fill: a missing or blank title asks for one, and so does `fetch_metadata: true`.
 */
export function metadataWanted(input: unknown): MetadataWanted | null {
  const fields = input as Record<string, unknown>;
  const wanted = { title: blank(fields.title), description: blank(fields.description) };
  return wanted.title || fields.fetch_metadata === true ? wanted : null;
}

const updateBookmarkShape = objectOf({}, { title: Title, url: Url, description: Description, notes: Notes, public: Public, tags: Tags, unread: Unread });
const updateBookmarkStruct = updateBookmarkShape.struct;
export const UpdateBookmark: Schema<Infer<typeof updateBookmarkStruct>, Partial<BookmarkFields>> = {
  struct: updateBookmarkStruct,
  accepts: updateBookmarkShape.accepts,
  normalize: (raw) => {
    const changes: Partial<BookmarkFields> = {};
    if (raw.title !== undefined) changes.title = raw.title.trim();
    if (raw.url !== undefined) changes.url = raw.url.trim();
    if (raw.description !== undefined) changes.description = (raw.description ?? "").trim();
    if (raw.notes !== undefined) changes.notes = notesText(raw.notes ?? "");
    if (raw.public !== undefined) changes.public = raw.public ?? true;
    if (raw.tags !== undefined) changes.tags = tagList(raw.tags);
    if (raw.unread !== undefined) changes.unread = raw.unread ?? false;
    return changes;
  },
};

/** What a bulk edit does to every bookmark it names. */
export const BULK_ACTIONS = ["add_tags", "remove_tags", "make_public", "make_private", "mark_read", "mark_unread", "delete"] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];
const isBulkAction = (value: unknown): value is BulkAction => typeof value === "string" && (BULK_ACTIONS as readonly string[]).includes(value);

const BulkIds = field<number[]>("ids", (value) => {
  if (!Array.isArray(value) || value.length === 0) return "must be a non-empty list of bookmark ids";
  if (value.length > LIMITS.bulkIdsMax) return `must be at most ${LIMITS.bulkIdsMax.toLocaleString("en")} ids (got ${value.length.toLocaleString("en")})`;
  const seen = new Set<number>();
  for (const id of value) {
    if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 1) return `must each be a positive integer (${String(JSON.stringify(id)).slice(0, 20)} is not)`;
    if (seen.has(id)) return `must not repeat an id (${id} appears twice)`;
    seen.add(id);
  }
  return true;
});

const BulkActionField = field<BulkAction>("action", (value) => isBulkAction(value) || `must be one of ${BULK_ACTIONS.join(", ")}`);

/** A bulk edit, parsed: the tags are normalized, non-empty for the tag actions and empty for the others. */
export type BulkEdit = { ids: number[]; action: BulkAction; tags: string[] };

const bulkShape = objectOf({ ids: BulkIds, action: BulkActionField }, { tags: Tags });
export const BulkEditInput: Schema<Infer<typeof bulkShape.struct>, BulkEdit> = {
  struct: bulkShape.struct,
  accepts: bulkShape.accepts,
  normalize: (raw) => ({ ids: raw.ids, action: raw.action, tags: tagList(raw.tags) }),
};

/** One tag's new name (PATCH /api/tags/:name): a single tag, normalized like every tag. */
const TagName = field<string>("name", (value) => {
  if (value === undefined || value === null || (typeof value === "string" && value.trim() === "")) return "can't be blank";
  if (typeof value !== "string") return "must be a string";
  if (value.includes(",")) return "must be one tag (no commas)";
  const tag = tagList([value])[0] ?? "";
  if (charsOver(tag, LIMITS.tagCharsMax)) return `must be at most ${LIMITS.tagCharsMax} characters`;
  return textProblem(tag, "line") ?? true;
});

const tagNameShape = objectOf({ name: TagName }, {});
export const TagRename: Schema<Infer<typeof tagNameShape.struct>, { name: string }> = {
  struct: tagNameShape.struct,
  accepts: tagNameShape.accepts,
  normalize: (raw) => ({ name: tagList([raw.name])[0]! }),
};

const usernamePattern = new RegExp(`^[a-z0-9_-]{${LIMITS.usernameCharsMin},${LIMITS.usernameCharsMax}}$`);
export const Username = field<string>("username", (value) => {
  if (value === undefined || value === null) return "can't be blank";
  if (typeof value !== "string") return "must be a string";
  return textProblem(value.trim(), "line") ?? (usernamePattern.test(value.trim().toLowerCase()) || `must be ${LIMITS.usernameCharsMin}–${LIMITS.usernameCharsMax} characters of a-z, 0-9, _ and -`);
});

export const Password = field<string>("password", (value) => {
  if (value === undefined || value === null) return "can't be blank";
  if (typeof value !== "string") return "must be a string";
  return textProblem(value, "any") ?? lengthCheck(LIMITS.passwordCharsMin, LIMITS.passwordCharsMax, value);
});

const AnyPassword = field<string>("password", (value) => {
  if (typeof value !== "string" || value === "") return "can't be blank";
  return textProblem(value, "any") ?? true;
});

/** An invitation's secret as its link carries it (`/signup?invite=…`). */
const InviteSecret = field<string | null>("invite", (value) => value === null || (typeof value === "string" && value.length <= 100) || "must be the invitation code of your link (text of at most 100 characters)");

const registrationStruct = type({ username: Username, password: Password, invite: optional(InviteSecret) });
export const Registration: Schema<Infer<typeof registrationStruct>, { username: string; password: string; invite: string | null }> = {
  struct: registrationStruct,
  normalize: (raw) => ({ username: raw.username.trim().toLowerCase(), password: raw.password, invite: raw.invite?.trim() || null }),
};

const signupStruct = type({ mode: field<SignupMode>("mode", (value) => SIGNUP_MODES.includes(value as SignupMode) || `must be one of ${SIGNUP_MODES.join(", ")}`) });
export const SignupInput: Schema<Infer<typeof signupStruct>, { mode: SignupMode }> = {
  struct: signupStruct,
  normalize: (raw) => ({ mode: raw.mode }),
};

const newPasswordStruct = type({ password: Password });
export const NewPassword: Schema<Infer<typeof newPasswordStruct>, { password: string }> = {
  struct: newPasswordStruct,
  normalize: (raw) => ({ password: raw.password }),
};

const credentialsStruct = type({ username: Username, password: AnyPassword });
export const Credentials: Schema<Infer<typeof credentialsStruct>, { username: string; password: string }> = {
  struct: credentialsStruct,
  normalize: (raw) => ({ username: raw.username.trim().toLowerCase(), password: raw.password }),
};

const passwordChangeStruct = type({ current_password: AnyPassword, new_password: Password });
export const PasswordChange: Schema<Infer<typeof passwordChangeStruct>, { currentPassword: string; newPassword: string }> = {
  struct: passwordChangeStruct,
  normalize: (raw) => ({ currentPassword: raw.current_password, newPassword: raw.new_password }),
};

/** A person's own password, asked again before something that cannot be undone (deleting the account). */
const passwordConfirmationStruct = type({ password: AnyPassword });
export const PasswordConfirmation: Schema<Infer<typeof passwordConfirmationStruct>, { password: string }> = {
  struct: passwordConfirmationStruct,
  normalize: (raw) => ({ password: raw.password }),
};

const commentStruct = type({ body: trimmedText("body", 1, LIMITS.commentCharsMax, "lines") });
export const CommentInput: Schema<Infer<typeof commentStruct>, { body: string }> = {
  struct: commentStruct,
  normalize: (raw) => ({ body: raw.body.trim() }),
};

const tokenStruct = type({ name: optional(trimmedText("name", 1, LIMITS.tokenNameCharsMax, "line")) });
export const TokenInput: Schema<Infer<typeof tokenStruct>, { name: string }> = {
  struct: tokenStruct,
  normalize: (raw) => ({ name: raw.name?.trim() ?? "api" }),
};

function describeFailure(failure: { type: string; message: string }): string {
  return failure.type === "type" || failure.type === "object" ? "must be an object" : failure.message;
}

/**
 * Validates `value` with the schema's struct and returns its normalized form (only known fields:
 * unknown ones are ignored); throws HttpError(422) naming every failing field as
 * `{"errors":{"field":["message"]}}`.
 */
export function parseInput<Raw, Parsed>(schema: Schema<Raw, Parsed>, value: unknown): Parsed {
  if (schema.accepts?.(value)) return schema.normalize(value as Raw);
  const [error, raw] = validate(value, schema.struct);
  if (!error) return schema.normalize(raw);
  const errors: FieldErrors = {};
  for (const failure of error.failures()) {
    const name = failure.path.length > 0 ? String(failure.path[0]) : "input";
    (errors[name] ??= []).push(describeFailure(failure));
  }
  throw invalid(errors);
}
