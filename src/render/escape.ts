// Escaping for HTML and XML output (pages, fragments, feeds, Pinboard XML, exports): well-formed and XML-safe whatever is stored.
import { printable } from "../text.ts";

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const SPECIAL = /[&<>"']/;
const SPECIALS = /[&<>"']/g;

/**
 * Safe in HTML and XML 1.0 text and in double- or single-quoted attributes. Characters no UTF-8
 * or XML can carry (a lone surrogate, a non-character, a C0 control other than tab and line
 * breaks, as text stored before the input checks may hold) come out as U+FFFD (text.ts printable).
 */
export function escapeHtml(text: string): string {
  const safe = printable(text);
  return SPECIAL.test(safe) ? safe.replace(SPECIALS, (char) => ESCAPES[char]!) : safe;
}

/** XML's escaping is HTML's: the same five characters, and printable already leaves out what XML 1.0 forbids. */
export const escapeXml = escapeHtml;

/** Eta's escape function: any value, as a string, escaped. */
export function escapeValue(value: unknown): string {
  return escapeHtml(typeof value === "string" ? value : String(value));
}
