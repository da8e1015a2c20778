// Notes: a bookmark's Markdown rendered to HTML that is safe in any page (markdown-it, then sanitize-html as a second line).
import MarkdownIt from "markdown-it";
import type { Token } from "markdown-it";
import sanitizeHtml from "sanitize-html";
import { LIMITS } from "../commands/schemas.ts";
import { printable, truncateChars } from "../text.ts";
import { escapeHtml } from "./escape.ts";

/** What every link in notes carries: no ranking credit, no window.opener, marked as user content. */
export const NOTES_LINK_REL = "nofollow noopener ugc";

/** Rendering looks at no more than what notes may hold: a longer text (from a bug, or a hand-edited log) is cut. */
export const NOTES_RENDERED_CHARS_MAX = LIMITS.notesCharsMax;

/** Block nesting (quotes in lists in quotes…) markdown-it follows; deeper markers stay text. */
const NESTING_MAX = 20;

/**
 * The only link targets: absolute http(s) and mailto. Relative links, `#fragments`, `javascript:`,
 * `data:`, `vbscript:`, `file:` and the rest are not links at all — markdown-it leaves their source
 * as text. markdown-it hands this the destination after decoding entities and escapes and
 * percent-encoding it, so `jav&#x09;ascript:` arrives as `jav%09ascript:` and fails like any other.
 */
const LINK_SCHEME = /^(?:https?:|mailto:)/i;

/** Headings inside a card sit under its title (h3), so a note's `#` is an h4 and the rest h5/h6. */
const DEMOTED_HEADING: Readonly<Record<string, string>> = { h1: "h4", h2: "h5", h3: "h6", h4: "h6", h5: "h6", h6: "h6" };

/**
 * markdown-it with raw HTML off (`<b>` stays the text `<b>`), bare http(s) URLs and e-mail
 * addresses linked, no typographic replacements, a line break where the writer broke the line
 * (notes are jotted, like comments), and tables and ~~strikethrough~~ as in its default preset.
 */
const markdown = new MarkdownIt("default", { html: false, linkify: true, typographer: false, breaks: true, maxNesting: NESTING_MAX });
markdown.validateLink = (url: string) => LINK_SCHEME.test(url);

markdown.core.ruler.push("nasty_demote_headings", (state) => {
  for (const token of state.tokens) {
    if (token.type === "heading_open" || token.type === "heading_close") token.tag = DEMOTED_HEADING[token.tag] ?? "h6";
  }
});

markdown.renderer.rules.link_open = (tokens, index, options, _env, renderer) => {
  tokens[index]!.attrSet("rel", NOTES_LINK_REL);
  return renderer.renderToken(tokens, index, options);
};

function insideLink(tokens: readonly Token[], index: number): boolean {
  let depth = 0;
  for (let at = 0; at < index; at += 1) {
    const type = tokens[at]!.type;
    if (type === "link_open") depth += 1;
    else if (type === "link_close") depth -= 1;
  }
  return depth > 0;
}

/**
 * No <img>: an image in notes would make every viewer's browser fetch a third party's URL (a
 * tracking pixel, an IP logger) just by opening a page. `![alt](src)` becomes a link to the image
 * labelled with its alt text — or only the alt text when it already sits inside a link.
 */
markdown.renderer.rules.image = (tokens, index, options, env, renderer) => {
  const token = tokens[index]!;
  const label = renderer.renderInlineAsText(token.children ?? [], options, env);
  if (insideLink(tokens, index)) return escapeHtml(label);
  const href = String(token.attrGet("src") ?? "");
  return `<a href="${escapeHtml(href)}" rel="${NOTES_LINK_REL}">${escapeHtml(label === "" ? "image" : label)}</a>`;
};

/**
 * The second line: only the elements and attributes markdown-it is configured to emit above
 * survive, hrefs only with the three schemes, and every link gets the rel whatever it had.
 * Link titles, alignment styles of table cells and code-block language classes are dropped with
 * the rest: attribute values are where markup-looking text would otherwise survive.
 */
const SANITIZE: sanitizeHtml.IOptions = {
  allowedTags: ["p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h4", "h5", "h6", "hr", "s", "table", "thead", "tbody", "tr", "th", "td"],
  allowedAttributes: { a: ["href", "rel"], ol: ["start"] },
  allowedSchemes: ["http", "https", "mailto"],
  allowedSchemesByTag: {},
  allowedSchemesAppliedToAttributes: ["href"],
  allowProtocolRelative: false,
  disallowedTagsMode: "discard",
  transformTags: { a: (tagName, attribs) => ({ tagName, attribs: { ...attribs, rel: NOTES_LINK_REL } }) },
};

/** Markdown to sanitized HTML: may throw if either library does. */
function markdownHtml(text: string): string {
  return sanitizeHtml(markdown.render(text), SANITIZE).trimEnd();
}

/**
 * Notes as HTML: "" when there are none. Never throws: if either library fails on some input
 * (a bug of theirs, a stack overflow on nesting they did not bound), the notes are shown as
 * escaped plain text instead — a viewer still sees them, and the page still renders.
 * Pure: the same notes always give the same HTML, so callers may cache it.
 */
export function renderNotes(notes: string): string {
  return renderedOrPlain(notes, markdownHtml);
}

/** renderNotes with the Markdown step given (tests hand it one that throws). */
export function renderedOrPlain(notes: string, toHtml: (text: string) => string): string {
  if (notes.trim() === "") return "";
  const text = printable(truncateChars(notes, NOTES_RENDERED_CHARS_MAX));
  try {
    return toHtml(text);
  } catch {
    return `<p class="notes-plain">${escapeHtml(text)}</p>`;
  }
}
