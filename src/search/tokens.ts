// Search tokens: how bookmark text and query words are cut into lower-case, accent-free words.

/** Letters and digits of any script; everything else separates words. */
const WORD = /[\p{L}\p{N}]+/gu;
const COMBINING_MARKS = /\p{M}+/gu;

/** Longer words are cut to this many characters, in the index and in queries alike. */
export const TOKEN_CHARS_MAX = 40;

/**
 * Words found in every URL ("https://www."): never indexed, and dropped from queries, where
 * they would match nearly everything anyway.
 */
const STOP_TOKENS = new Set(["http", "https", "www"]);

/** Lower case without accents ("Crème" → "creme"), so a search matches either spelling. */
export function foldText(text: string): string {
  return text.normalize("NFKD").replace(COMBINING_MARKS, "").toLowerCase();
}

/** 1 for a-z and 0-9, 2 for A-Z, 0 for every other ASCII character. */
const ASCII_WORD_CHAR = new Uint8Array(128);
for (let code = 0; code < 128; code += 1) {
  const char = String.fromCharCode(code);
  ASCII_WORD_CHAR[code] = /[a-z0-9]/.test(char) ? 1 : /[A-Z]/.test(char) ? 2 : 0;
}

function emit(word: string, visit: (word: string) => void): void {
  const cut = word.length > TOKEN_CHARS_MAX ? word.slice(0, TOKEN_CHARS_MAX) : word;
  if (cut.length > 5 || !STOP_TOKENS.has(cut)) visit(cut);
}

/**
 * Calls `visit` with each word of `text`, in order, repeats included (phrases need the order).
 * ASCII text — nearly all of it — is cut by a table lookup per character; anything else goes
 * through Unicode folding and a Unicode-aware pattern.
 */
export function eachWord(text: string, visit: (word: string) => void): void {
  let start = -1;
  let upper = false;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (code >= 128) {
      for (const match of foldText(text).matchAll(WORD)) emit(match[0], visit);
      return;
    }
    const kind = ASCII_WORD_CHAR[code]!;
    if (kind !== 0) {
      if (start < 0) start = index;
      if (kind === 2) upper = true;
    } else if (start >= 0) {
      emit(upper ? text.slice(start, index).toLowerCase() : text.slice(start, index), visit);
      start = -1;
      upper = false;
    }
  }
  if (start >= 0) emit(upper ? text.slice(start).toLowerCase() : text.slice(start), visit);
}

/** The words of `text`, in order, repeats kept. */
export function words(text: string): string[] {
  const found: string[] = [];
  eachWord(text, (word) => found.push(word));
  return found;
}

/** The searchable part of a URL: host and path, without scheme, query string or fragment. */
export function urlText(url: string): string {
  const start = url.indexOf("://");
  let end = url.length;
  for (const stop of ["?", "#"]) {
    const index = url.indexOf(stop, start + 3);
    if (index >= 0 && index < end) end = index;
  }
  return url.slice(start < 0 ? 0 : start + 3, end);
}

/** The host of an absolute URL, lower-cased, without a leading "www.". */
export function urlHost(url: string): string {
  const text = urlText(url);
  const slash = text.indexOf("/");
  let host = (slash < 0 ? text : text.slice(0, slash)).toLowerCase();
  const at = host.lastIndexOf("@");
  if (at >= 0) host = host.slice(at + 1);
  const colon = host.lastIndexOf(":");
  if (colon >= 0 && !host.endsWith("]")) host = host.slice(0, colon);
  return host.startsWith("www.") ? host.slice(4) : host;
}

export interface SearchableText {
  title: string;
  description: string;
  /** The owner's Markdown notes, searched as plain words (the markup is punctuation to the tokenizer). */
  notes: string;
  url: string;
  tags: readonly string[];
}

/**
 * The word sequences of one bookmark, one per field and tag (a phrase never spans two). Tags
 * count as words too: "machine-learning" is found by "machine" and by "learning".
 */
export function fieldWords(bookmark: SearchableText): string[][] {
  return [words(bookmark.title), words(bookmark.description), words(bookmark.notes), words(urlText(bookmark.url)), ...bookmark.tags.map(words)];
}

/** Calls `visit` with every word of every field of a bookmark, repeats included. */
export function eachBookmarkWord(bookmark: SearchableText, visit: (word: string) => void): void {
  eachWord(bookmark.title, visit);
  eachWord(bookmark.description, visit);
  eachWord(bookmark.notes, visit);
  eachWord(urlText(bookmark.url), visit);
  for (const tag of bookmark.tags) eachWord(tag, visit);
}

/** Distinct words of a bookmark, the keys it is indexed under. */
export function distinctWords(bookmark: SearchableText): Set<string> {
  const distinct = new Set<string>();
  eachBookmarkWord(bookmark, (word) => distinct.add(word));
  return distinct;
}
