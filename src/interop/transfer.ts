// Import and export over HTTP: POST /api/import (a Netscape file, streamed) and GET /api/export.
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import type { Commands } from "../commands/commands.ts";
import { canSee, type Store, type User } from "../store/store.ts";
import { route, type Context, type RouteOptions, type RouterDeps } from "../http/router.ts";
import type { Answer } from "../http/respond.ts";
import { booleanParam, userParam } from "../http/params.ts";
import { BookmarkImport } from "./import.ts";
import { NETSCAPE_FOOTER, NETSCAPE_HEADER, netscapeItem } from "./netscape.ts";

/** A bookmark file may be this big: 100,000 bookmarks take about 30 MiB. */
export const IMPORT_BYTES_MAX = 64 * 1024 * 1024;

export interface TransferDeps extends RouterDeps {
  commands: Commands;
  /** Checks a cookie-authenticated upload (Origin and CSRF token), set once the pages are wired. */
  checkCookieWrite?: (context: Context) => void;
}

/** Browsers send a .html file as text/html, an unknown file with no type or octet-stream. */
const IMPORT_TYPES = /^(text\/html|text\/plain|application\/octet-stream|application\/xhtml\+xml)?\s*(;|$)/i;

async function importFile(deps: TransferDeps, context: Context): Promise<Answer> {
  const stream = context.stream!;
  let job: BookmarkImport | null = null;
  try {
    if (context.via === "cookie") {
      if (!deps.checkCookieWrite) throw new HttpError(401, "send 'Authorization: Bearer <token>' to import");
      deps.checkCookieWrite(context);
    }
    const type = context.headers["content-type"];
    if (!IMPORT_TYPES.test(type)) throw new HttpError(415, `expected a Netscape bookmark file (text/html) as the request body, got '${type.slice(0, 60)}'`);
    job = new BookmarkImport(deps.commands, context.viewer!, { foldersAsTags: booleanParam(context, "folders") ?? true, public: booleanParam(context, "public") ?? false });
    for await (const chunk of stream) job.write(chunk);
    return { status: 200, json: await job.finish() };
  } finally {
    job?.dispose();
    stream.release();
  }
}

/** The file name of an export: whose and when, so several exports do not overwrite each other. */
function exportFileName(owner: User): string {
  return `nasty-${owner.username}-${new Date().toISOString().slice(0, 10)}.html`;
}

/**
 * A user's bookmarks as the viewer may see them (all of them for their owner), newest first.
 * The read-later flag is the owner's alone: anyone else's export says TOREAD="0" throughout
 * (whoever imports it starts with nothing to read).
 */
export function exportNetscape(store: Store, owner: User, viewer: User | null): string {
  const parts = [NETSCAPE_HEADER];
  const own = viewer === owner;
  for (const bookmark of owner.bookmarks.newestFirst()) {
    if (canSee(viewer, bookmark)) parts.push(netscapeItem(own ? bookmark : { ...bookmark, unread: false }));
  }
  parts.push(NETSCAPE_FOOTER);
  return parts.join("");
}

function exportFile(deps: TransferDeps, context: Context): Answer {
  const name = context.query.get("user");
  const owner = name ? userParam(deps.store, name) : context.viewer;
  if (!owner) throw new HttpError(401, "authentication required to export your bookmarks (or name a user: /api/export?user=NAME for their public ones)");
  return {
    status: 200,
    body: exportNetscape(deps.store, owner, context.viewer),
    contentType: "text/html; charset=utf-8",
    headers: { "Content-Disposition": `attachment; filename="${exportFileName(owner)}"`, "Cache-Control": "no-store" },
  };
}

export function registerTransfer(app: TemplatedApp, deps: TransferDeps): void {
  const upload: RouteOptions = { auth: "required", cookie: true, streamBytesMax: IMPORT_BYTES_MAX };
  route(app, deps, "post", "/api/import", (context) => importFile(deps, context), upload);
  route(app, deps, "get", "/api/export", (context) => exportFile(deps, context), { auth: "optional", cookie: true });
}
