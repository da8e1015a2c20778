// What text Nasty takes in and writes out: valid Unicode in (one check for every field), well-formed UTF-8 and XML-safe characters out.
import { isUtf8 } from "node:buffer";
import { HttpError, invalid } from "./errors.ts";

/**
 * How much a field may hold besides printable text:
 * - "line": a single-line field (title, tag, URL, username, token name): no control characters at all;
 * - "lines": free text (description, comment): tab, line feed and carriage return, no other control character;
 * - "any": text we never show or only look up (passwords, query parameters): any character that is valid Unicode.
 *
 * Every shape refuses what is not valid Unicode: a lone UTF-16 surrogate (JSON's "\ud800" escape
 * gives one), which no UTF-8 can carry, and the 66 non-characters (U+FDD0–U+FDEF and the last two
 * code points of every plane), which Unicode reserves for a program's own use. Control characters
 * are refused in stored text because XML 1.0 cannot carry C0 ones at all (a feed holding one is
 * rejected whole by every reader) and C1 ones only show up as mojibake; line breaks and tabs keep
 * their meaning in descriptions and comments (a textarea posts its line breaks as CR LF).
 */
export type TextShape = "line" | "lines" | "any";

/** U+FDD0–U+FDEF, U+FFFE, U+FFFF, and U+nFFFE / U+nFFFF of planes 1–16 as surrogate pairs (high surrogate 0xD83F + 0x40·(n−1)). */
const NONCHARACTER = /[\uFDD0-\uFDEF\uFFFE\uFFFF]|[\uD83F\uD87F\uD8BF\uD8FF\uD93F\uD97F\uD9BF\uD9FF\uDA3F\uDA7F\uDABF\uDAFF\uDB3F\uDB7F\uDBBF\uDBFF][\uDFFE\uDFFF]/;
const NONCHARACTERS = new RegExp(NONCHARACTER.source, "g");
/** C0 controls, DEL and C1 controls. */
const CONTROL_IN_LINE = /[\u0000-\u001F\u007F-\u009F]/;
/** The same but tab, line feed and carriage return. */
const CONTROL_IN_LINES = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
/** One test for the common case (nothing wrong) per shape; the message is worked out only when it matches. */
const SUSPECT: Record<TextShape, RegExp> = {
  line: new RegExp(`${NONCHARACTER.source}|${CONTROL_IN_LINE.source}`),
  lines: new RegExp(`${NONCHARACTER.source}|${CONTROL_IN_LINES.source}`),
  any: NONCHARACTER,
};

export function codePointName(codePoint: number): string {
  return `U+${codePoint.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** The first lone surrogate of `text` (assumed not well formed). */
function loneSurrogate(text: string): number {
  for (let index = 0; index < text.length; index += 1) {
    const unit = text.charCodeAt(index);
    if (unit < 0xd800 || unit > 0xdfff) continue;
    const next = text.charCodeAt(index + 1);
    if (unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) index += 1;
    else return unit;
  }
  return 0xfffd;
}

/** Why `text` cannot be taken as a field of this shape (a message for the user), or null when it can. */
export function textProblem(text: string, shape: TextShape): string | null {
  if (!text.isWellFormed()) return `contains a lone UTF-16 surrogate (${codePointName(loneSurrogate(text))}), which is not valid Unicode`;
  const suspect = SUSPECT[shape].exec(text);
  if (suspect === null) return null;
  const codePoint = suspect[0].codePointAt(0)!;
  if (NONCHARACTER.test(suspect[0])) return `contains the Unicode non-character ${codePointName(codePoint)}`;
  return shape === "line"
    ? `may not contain control characters or line breaks (found ${codePointName(codePoint)})`
    : `may not contain control characters other than tab and line breaks (found ${codePointName(codePoint)})`;
}

/**
 * Query strings and form bodies: every name and value must be valid Unicode (the fields they feed
 * are then checked for their own shape). Throws 422 naming the first parameter that is not.
 */
export function checkParams(params: URLSearchParams): URLSearchParams {
  for (const [name, value] of params) {
    const problem = textProblem(name, "any") ?? textProblem(value, "any");
    if (problem !== null) throw invalid({ [name.toWellFormed()]: [problem] });
  }
  return params;
}

/** Whitespace control characters: in a single-line field they stand for a space. */
const WHITESPACE_CONTROL = /[\t\n\v\f\r]/g;
const CONTROLS_IN_LINE = new RegExp(CONTROL_IN_LINE.source, "g");
const CONTROLS_IN_LINES = new RegExp(CONTROL_IN_LINES.source, "g");

/**
 * Imports keep what they can: what a field of this shape cannot hold becomes U+FFFD (a
 * line's tabs and line breaks become spaces), and `replaced` counts the characters that were
 * replaced so the import can report them.
 */
export function repairText(text: string, shape: TextShape): { text: string; replaced: number } {
  if (textProblem(text, shape) === null) return { text, replaced: 0 };
  let replaced = 0;
  const replace = () => {
    replaced += 1;
    return "\uFFFD";
  };
  let repaired = text.isWellFormed() ? text : text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, replace);
  repaired = repaired.replace(NONCHARACTERS, replace);
  if (shape === "line") repaired = repaired.replace(WHITESPACE_CONTROL, " ").replace(CONTROLS_IN_LINE, replace);
  else if (shape === "lines") repaired = repaired.replace(CONTROLS_IN_LINES, replace);
  return { text: repaired, replaced };
}

/**
 * What HTML and XML output may carry: lone surrogates (uWS would write them as invalid UTF-8),
 * non-characters, and the C0 controls XML 1.0 forbids (all but tab, line feed and carriage
 * return) become U+FFFD. Text stored before these checks existed can hold any of them; every
 * escape of pages, fragments, feeds and exports goes through here.
 */
const UNPRINTABLE = new RegExp(`${NONCHARACTER.source}|[\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F]`);
const UNPRINTABLES = new RegExp(UNPRINTABLE.source, "g");
export function printable(text: string): string {
  const wellFormed = text.isWellFormed() ? text : text.toWellFormed();
  return UNPRINTABLE.test(wellFormed) ? wellFormed.replace(UNPRINTABLES, "\uFFFD") : wellFormed;
}

/** encodeURIComponent that never throws: a lone surrogate (URIError) is encoded as U+FFFD. */
export function uriComponent(text: string): string {
  return encodeURIComponent(text.isWellFormed() ? text : text.toWellFormed());
}

/** The first `max` UTF-16 units of `text`, one fewer when the cut would split a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const last = text.charCodeAt(max - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

/**
 * Characters as a limit's message counts them ("at most 10,000 characters"): Unicode code points,
 * so an emoji (a surrogate pair, two UTF-16 units) is one; a lone surrogate counts one too.
 */
export function charCount(text: string): number {
  let pairs = 0;
  for (let index = 0; index < text.length - 1; index += 1) {
    const unit = text.charCodeAt(index);
    if (unit < 0xd800 || unit > 0xdbff) continue;
    const next = text.charCodeAt(index + 1);
    if (next >= 0xdc00 && next <= 0xdfff) {
      pairs += 1;
      index += 1;
    }
  }
  return text.length - pairs;
}

/** Whether `text` has more than `max` characters (charCount); no count at all while its UTF-16 length is within `max`. */
export function charsOver(text: string, max: number): boolean {
  return text.length > max && charCount(text) > max;
}

/** The first `max` characters (code points, as charCount counts them) of `text`. */
export function truncateChars(text: string, max: number): string {
  if (text.length <= max) return text;
  let index = 0;
  for (let chars = 0; chars < max && index < text.length; chars += 1) {
    const unit = text.charCodeAt(index);
    const next = text.charCodeAt(index + 1);
    index += unit >= 0xd800 && unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff ? 2 : 1;
  }
  return text.slice(0, index);
}

/** Runs of percent-escapes: the bytes of one or more characters. */
const ESCAPE_RUNS = /(?:%[0-9A-Fa-f]{2})+/g;

/**
 * Percent-decoding that never throws (decodeURIComponent's URIError inside a uWS handler used to
 * end the process). A `%` not followed by two hex digits stays as it is, as URLSearchParams and
 * browsers leave it; escapes whose bytes are not UTF-8 (`%E0`, an encoded surrogate) give null,
 * so the caller can name the problem. `plus` reads "+" as a space (query strings and forms).
 */
export function percentDecode(text: string, plus = false): string | null {
  const spaced = plus && text.includes("+") ? text.replaceAll("+", " ") : text;
  if (!spaced.includes("%")) return spaced;
  let valid = true;
  const decoded = spaced.replace(ESCAPE_RUNS, (run) => {
    const bytes = Buffer.from(run.replaceAll("%", ""), "hex");
    if (isUtf8(bytes)) return bytes.toString("utf8");
    valid = false;
    return "";
  });
  return valid ? decoded : null;
}

/** percentDecode of each part; null when any of them does not decode. */
export function percentDecodeAll(parts: readonly string[]): string[] | null {
  const decoded: string[] = [];
  for (const part of parts) {
    const one = percentDecode(part);
    if (one === null) return null;
    decoded.push(one);
  }
  return decoded;
}

/**
 * Parses a query string or form body, refusing with 400 a parameter whose escapes are not UTF-8
 * (URLSearchParams would quietly turn them into U+FFFD), then with 422 one that is not valid
 * Unicode (checkParams). `what` names the parameters in the message ("query parameter").
 */
export function parseParams(raw: string, what: string): URLSearchParams {
  if (raw.includes("%")) {
    for (const pair of raw.split("&")) {
      const equals = pair.indexOf("=");
      const name = equals < 0 ? pair : pair.slice(0, equals);
      if (percentDecode(pair, true) === null) {
        throw new HttpError(400, `${what} '${truncate(percentDecode(name, true) ?? name, 60)}' has percent-escapes that are not UTF-8 (${truncate(pair, 80)})`);
      }
    }
  }
  return checkParams(new URLSearchParams(raw));
}
