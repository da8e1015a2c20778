// Netscape bookmark files (what browsers, Pinboard and linkding export): a streaming reader and the writer.
import { escapeHtml } from "../render/escape.ts";
import { decodeAttribute, decodeText } from "./entities.ts";

/** One <A> of the file, as written (nothing validated yet). */
export interface NetscapeEntry {
  /** Line of the file where the entry's <A starts (1-based). */
  line: number;
  href: string;
  title: string;
  description: string;
  /** Notes, from linkding's `[linkding-notes]…[/linkding-notes]` at the end of the <DD>; "" when none. */
  notes: string;
  /** TAGS="a,b" */
  tags: string[];
  /** Folder names from the outermost in, browser root folders left out. */
  folders: string[];
  /** ADD_DATE in ms, or null when absent or unreadable. */
  addDateMs: number | null;
  /** PRIVATE="1"; null when the attribute is absent. */
  private: boolean | null;
  /** TOREAD="1" */
  toRead: boolean;
}

/** A tag or a piece of text longer than this is refused rather than held (bounded memory). */
export const PENDING_CHARS_MAX = 1024 * 1024;

/** Folders that every browser has at the root: not worth a tag on every bookmark inside them. */
const BROWSER_ROOT_FOLDERS = new Set(["bookmarks bar", "bookmarks toolbar", "bookmarks menu", "other bookmarks", "mobile bookmarks", "favorites bar", "bookmarks"]);

/** ADD_DATE is seconds in the format; some tools write milliseconds or microseconds. */
export function parseAddDate(raw: string | undefined): number | null {
  if (raw === undefined || !/^\s*\d{1,17}\s*$/.test(raw)) return null;
  const value = Number(raw);
  if (value === 0) return null;
  if (value > 1e14) return Math.floor(value / 1000);
  if (value > 1e11) return value;
  return value * 1000;
}

function parseAttributes(text: string): Map<string, string> {
  const attributes = new Map<string, string>();
  const pattern = /([^\s=/>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g;
  for (const match of text.matchAll(pattern)) {
    attributes.set(match[1]!.toUpperCase(), decodeAttribute(match[2] ?? match[3] ?? match[4] ?? ""));
  }
  return attributes;
}

/** The index of the `>` closing a tag that starts at `start`, skipping quoted attribute values; -1 if not here yet. */
function tagEnd(text: string, start: number): number {
  let quote = "";
  for (let index = start + 1; index < text.length; index += 1) {
    const char = text[index]!;
    if (quote !== "") {
      if (char === quote) quote = "";
    } else if (char === '"' || char === "'") {
      quote = char;
    } else if (char === ">") {
      return index;
    }
  }
  return -1;
}

type Mode = "none" | "link" | "folder" | "description";

/**
 * Reads a Netscape bookmark file chunk by chunk: `write` text as it arrives, `end` at the end.
 * Only what is pending (one tag or one title/description) is held, never the file; entries
 * come out through `onEntry` in file order, each as soon as the next item starts. The format is
 * loose HTML (<DT><A …>title</A> then optional <DD>description, folders as <DT><H3>name</H3>
 * <DL>…</DL>), so anything else is skipped rather than refused.
 */
export class NetscapeReader {
  private pending = "";
  private line = 1;
  private mode: Mode = "none";
  private text = "";
  private link: { line: number; attributes: Map<string, string> } | null = null;
  private entry: NetscapeEntry | null = null;
  private folderName: string | null = null;
  /** One slot per open <DL>: its folder name, or null for the root and browser root folders. */
  private readonly folders: (string | null)[] = [];
  /** Whether the file looked like a bookmark file at all (a DOCTYPE, an <A HREF> or a <DL>). */
  sawBookmarkMarkup = false;

  constructor(
    private readonly onEntry: (entry: NetscapeEntry) => void,
    private readonly onProblem: (line: number, message: string) => void,
  ) {}

  write(chunk: string): void {
    this.pending += chunk;
    let position = 0;
    for (;;) {
      const open = this.pending.indexOf("<", position);
      if (open < 0) {
        this.takeText(this.pending.slice(position));
        position = this.pending.length;
        break;
      }
      this.takeText(this.pending.slice(position, open));
      const close = this.pending.startsWith("<!--", open) ? this.pending.indexOf("-->", open + 4) : tagEnd(this.pending, open);
      if (close < 0) {
        position = open;
        break;
      }
      const end = this.pending.startsWith("<!--", open) ? close + 3 : close + 1;
      this.takeTag(this.pending.slice(open, end));
      position = end;
    }
    this.pending = this.pending.slice(position);
    if (this.pending.length > PENDING_CHARS_MAX) {
      this.onProblem(this.line, `a tag runs for over ${PENDING_CHARS_MAX} characters without closing; skipped it`);
      this.countLines(this.pending);
      this.pending = "";
    }
  }

  end(): void {
    if (this.pending !== "") this.takeText(this.pending);
    this.pending = "";
    this.finishLink();
    this.flushEntry();
  }

  private countLines(text: string): void {
    for (let index = text.indexOf("\n"); index >= 0; index = text.indexOf("\n", index + 1)) this.line += 1;
  }

  private takeText(text: string): void {
    if (text === "") return;
    if (this.mode !== "none") {
      if (this.text.length + text.length > PENDING_CHARS_MAX) {
        this.onProblem(this.line, `a title or description is over ${PENDING_CHARS_MAX} characters; cut it there`);
      } else {
        this.text += text;
      }
    }
    this.countLines(text);
  }

  private takeTag(tag: string): void {
    const match = /^<\s*(\/?)\s*([a-zA-Z0-9!]+)/.exec(tag);
    const line = this.line;
    this.countLines(tag);
    if (!match) return;
    const closing = match[1] === "/";
    const name = match[2]!.toUpperCase();
    if (name === "!DOCTYPE" && /netscape-bookmark/i.test(tag)) this.sawBookmarkMarkup = true;
    if (this.mode === "description" && (name === "BR" || name === "P") && !closing) {
      if (name === "BR") this.text += "\n";
      return;
    }
    switch (`${closing ? "/" : ""}${name}`) {
      case "A":
        this.startItem();
        this.link = { line, attributes: parseAttributes(tag.slice(match[0].length, -1)) };
        if (this.link.attributes.has("HREF")) this.sawBookmarkMarkup = true;
        this.mode = "link";
        this.text = "";
        return;
      case "/A":
        this.finishLink();
        return;
      case "H3":
        this.startItem();
        this.mode = "folder";
        this.text = "";
        this.folderName = BROWSER_ROOT_FOLDER_ATTRIBUTES.test(tag) ? "" : null;
        return;
      case "/H3": {
        const name = decodeText(this.text).trim();
        this.folderName = this.folderName === "" || BROWSER_ROOT_FOLDERS.has(name.toLowerCase()) ? "" : name;
        this.mode = "none";
        this.text = "";
        return;
      }
      case "DL":
        this.sawBookmarkMarkup = true;
        this.startItem();
        this.folders.push(this.folderName === "" ? null : this.folderName);
        this.folderName = null;
        return;
      case "/DL":
        this.startItem();
        this.folders.pop();
        return;
      case "DD":
        this.finishLink();
        if (this.entry) {
          this.mode = "description";
          this.text = "";
        }
        return;
      case "DT":
      case "HR":
        this.startItem();
        return;
      default:
        return;
    }
  }

  /** A new item (or folder boundary) begins: whatever came before is complete. */
  private startItem(): void {
    this.finishLink();
    this.flushEntry();
  }

  private finishLink(): void {
    if (this.mode === "description" && this.entry) {
      const { description, notes } = splitNotes(decodeText(this.text).trim());
      this.entry.description = description;
      this.entry.notes = notes;
      this.mode = "none";
      this.text = "";
      return;
    }
    if (this.mode !== "link" || !this.link) return;
    const { attributes, line } = this.link;
    const privateFlag = attributes.get("PRIVATE");
    this.entry = {
      line,
      href: (attributes.get("HREF") ?? "").trim(),
      title: decodeText(this.text).replace(/\s+/g, " ").trim(),
      description: "",
      notes: "",
      tags: (attributes.get("TAGS") ?? "").split(",").map((tag) => tag.trim()).filter((tag) => tag !== ""),
      folders: this.folders.filter((name): name is string => name !== null),
      addDateMs: parseAddDate(attributes.get("ADD_DATE")),
      private: privateFlag === undefined ? null : privateFlag.trim() === "1",
      toRead: (attributes.get("TOREAD") ?? "").trim() === "1",
    };
    this.link = null;
    this.mode = "none";
    this.text = "";
  }

  private flushEntry(): void {
    if (this.mode === "description") this.finishLink();
    if (!this.entry) return;
    const entry = this.entry;
    this.entry = null;
    this.onEntry(entry);
  }
}

/**
 * linkding writes a bookmark's notes into its <DD>, after the description, between these markers
 * (its exporter and importer both; other tools that move linkding files follow it), so that is
 * how notes travel in a Netscape file, both ways.
 */
const NOTES_OPEN = "[linkding-notes]";
const NOTES_CLOSE = "[/linkding-notes]";

/** A <DD>'s text as description and notes: what follows NOTES_OPEN (up to NOTES_CLOSE, or the end) is notes. */
export function splitNotes(text: string): { description: string; notes: string } {
  const open = text.indexOf(NOTES_OPEN);
  if (open < 0) return { description: text, notes: "" };
  const rest = text.slice(open + NOTES_OPEN.length);
  const close = rest.lastIndexOf(NOTES_CLOSE);
  return { description: text.slice(0, open).trim(), notes: close < 0 ? rest : rest.slice(0, close) };
}

/** Browsers mark their root folders with these attributes (Chrome and Firefox). */
const BROWSER_ROOT_FOLDER_ATTRIBUTES = /\b(PERSONAL_TOOLBAR_FOLDER|UNFILED_BOOKMARKS_FOLDER)\s*=\s*["']?true/i;

/** What the writer needs of a bookmark. */
export interface ExportedBookmark {
  url: string;
  title: string;
  description: string;
  notes: string;
  tags: readonly string[];
  public: boolean;
  unread: boolean;
  insertedAt: number;
  updatedAt: number;
}

export const NETSCAPE_HEADER = `<!DOCTYPE NETSCAPE-Bookmark-file-1>
<!-- This is an automatically generated file.
     It will be read and overwritten.
     DO NOT EDIT! -->
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<TITLE>Bookmarks</TITLE>
<H1>Bookmarks</H1>
<DL><p>
`;

export const NETSCAPE_FOOTER = "</DL><p>\n";

/**
 * One bookmark as Pinboard and linkding write it: ADD_DATE/LAST_MODIFIED in seconds, PRIVATE,
 * TOREAD and TAGS (Firefox reads TAGS; Chrome ignores what it does not know), and notes after
 * the description as linkding writes them (splitNotes).
 */
export function netscapeItem(bookmark: ExportedBookmark): string {
  const attributes = [
    `HREF="${escapeHtml(bookmark.url)}"`,
    `ADD_DATE="${Math.floor(bookmark.insertedAt / 1000)}"`,
    `LAST_MODIFIED="${Math.floor(bookmark.updatedAt / 1000)}"`,
    `PRIVATE="${bookmark.public ? 0 : 1}"`,
    `TOREAD="${bookmark.unread ? 1 : 0}"`,
    `TAGS="${escapeHtml(bookmark.tags.join(","))}"`,
  ];
  const item = `<DT><A ${attributes.join(" ")}>${escapeHtml(bookmark.title)}</A>\n`;
  const notes = bookmark.notes === "" ? "" : `${NOTES_OPEN}${escapeHtml(bookmark.notes)}${NOTES_CLOSE}`;
  return bookmark.description === "" && notes === "" ? item : `${item}<DD>${escapeHtml(bookmark.description)}${notes}\n`;
}
