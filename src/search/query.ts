// The search query language, parsed into closed terms: words, "phrases", #tags, user:, site:, and their negations.
import { normalizeTags } from "../commands/schemas.ts";
import { foldText, words } from "./tokens.ts";

export type Term =
  /** One word; `prefix` matches any word starting with it (the last word typed). */
  | { kind: "word"; word: string; prefix: boolean; negated: boolean }
  /** Consecutive words within one field; the last may be a prefix. */
  | { kind: "phrase"; words: string[]; prefix: boolean; negated: boolean }
  | { kind: "tag"; tag: string; negated: boolean }
  | { kind: "user"; username: string; negated: boolean }
  | { kind: "site"; host: string; negated: boolean };

export const QUERY_CHARS_MAX = 500;
export const QUERY_TERMS_MAX = 20;

/** Pieces of the raw query: quoted phrases stay whole, everything else splits at spaces. */
function pieces(query: string): { text: string; quoted: boolean; negated: boolean }[] {
  const found: { text: string; quoted: boolean; negated: boolean }[] = [];
  const pattern = /(-?)"([^"]*)"?|(\S+)/g;
  for (const match of query.matchAll(pattern)) {
    if (match[3] !== undefined) {
      const negated = match[3].length > 1 && match[3].startsWith("-");
      found.push({ text: negated ? match[3].slice(1) : match[3], quoted: false, negated });
    } else {
      found.push({ text: match[2] ?? "", quoted: true, negated: match[1] === "-" });
    }
  }
  return found;
}

/** A word piece: one word, or several ("node.js", "e-mail") which must then appear together. */
function wordTerm(text: string, negated: boolean, prefix: boolean): Term | null {
  const found = words(text);
  if (found.length === 0) return null;
  if (found.length === 1) return { kind: "word", word: found[0]!, prefix, negated };
  return { kind: "phrase", words: found, prefix, negated };
}

function operatorTerm(text: string, negated: boolean): Term | null | undefined {
  if (text.startsWith("#") && text.length > 1) {
    const [tag] = normalizeTags([text.slice(1)]);
    return tag === undefined ? null : { kind: "tag", tag, negated };
  }
  const colon = text.indexOf(":");
  if (colon <= 0 || colon === text.length - 1) return undefined;
  const operator = text.slice(0, colon).toLowerCase();
  const value = text.slice(colon + 1);
  switch (operator) {
    case "tag": {
      const [tag] = normalizeTags([value]);
      return tag === undefined ? null : { kind: "tag", tag, negated };
    }
    case "user":
      return { kind: "user", username: value.toLowerCase().replace(/^@/, ""), negated };
    case "site": {
      const host = foldText(value).replace(/^[a-z]+:\/\//, "").replace(/\/.*$/, "").replace(/^www\./, "");
      return host === "" ? null : { kind: "site", host, negated };
    }
    default:
      return undefined;
  }
}

/**
 * Parses a query. Every positive term must match, every negated one must not. The last piece,
 * when it is a plain word and the query does not end in a space (someone is still typing it),
 * matches as a prefix. Unknown `x:` operators are plain words. Over QUERY_TERMS_MAX terms, the
 * rest is ignored.
 */
export function parseQuery(raw: string): Term[] {
  const query = raw.slice(0, QUERY_CHARS_MAX);
  const all = pieces(query);
  const stillTyping = !/\s$/.test(query);
  const terms: Term[] = [];
  all.forEach((piece, index) => {
    if (terms.length >= QUERY_TERMS_MAX) return;
    const last = index === all.length - 1;
    let term: Term | null | undefined;
    if (piece.quoted) term = wordTerm(piece.text, piece.negated, false);
    else term = operatorTerm(piece.text, piece.negated);
    if (term === undefined) term = wordTerm(piece.text, piece.negated, last && stillTyping && !piece.negated);
    if (term) terms.push(term);
  });
  return terms;
}
