// HTML character references in bookmark files, decoded as a browser decodes them (fb55's `entities`: the full HTML5 table).
import { decodeHTML, decodeHTMLAttribute } from "entities";

/**
 * Text between tags: every named reference of HTML5 (`&rarr;`, `&hearts;`, `&Omega;`, the legacy
 * ones without a semicolon too), and numeric ones as browsers read them: 0x80–0x9F by Windows-1252
 * (`&#150;` is "–"), NUL, surrogates and numbers past U+10FFFF as U+FFFD.
 */
export function decodeText(text: string): string {
  return text.includes("&") ? decodeHTML(text) : text;
}

/**
 * An attribute value (HREF, TAGS): as decodeText, except that a legacy reference without its
 * semicolon followed by `=` or a letter stays as written, so `?a=1&copy=2` keeps its `&copy`.
 */
export function decodeAttribute(text: string): string {
  return text.includes("&") ? decodeHTMLAttribute(text) : text;
}
