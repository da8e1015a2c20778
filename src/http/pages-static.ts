// Static assets for pages: static/ and htmx from its npm package, held in memory, served under versioned URLs with long cache headers.
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import { route, type RouterDeps } from "./router.ts";

export const STATIC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../static");

/** The URLs pages link to; each carries a version, so the files can be cached for a year. */
export interface Assets {
  css: string;
  js: string;
  icon: string;
  /** The web app manifest (installing, and the share target that opens the add form). */
  manifest: string;
  htmx: string;
  hxWs: string;
}

interface StaticFile {
  body: Buffer;
  contentType: string;
}

const CONTENT_TYPES: Record<string, string> = {
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".map": "application/json; charset=utf-8",
  ".webmanifest": "application/manifest+json; charset=utf-8",
};

const LONG_CACHE = "public, max-age=31536000, immutable";
/** The manifest at its fixed address changes with a deploy: browsers may keep it a day. */
const MANIFEST_CACHE = "public, max-age=86400";

function htmxDist(): { dir: string; version: string } {
  const require = createRequire(import.meta.url);
  const packageFile = require.resolve("htmx.org/package.json");
  const { version } = JSON.parse(fs.readFileSync(packageFile, "utf8")) as { version: string };
  return { dir: path.join(path.dirname(packageFile), "dist"), version };
}

function load(file: string): StaticFile {
  const contentType = CONTENT_TYPES[path.extname(file)];
  if (!contentType) throw new Error(`no content type for static file ${file}`);
  return { body: fs.readFileSync(file), contentType };
}

function shortHash(body: Buffer): string {
  return createHash("sha256").update(body).digest("base64url").slice(0, 10);
}

/**
 * Reads every asset once at start-up. Our own files are addressed by a content hash in the query
 * (`/static/app.css?v=…`), htmx by its package version in the path, so a new deploy changes the URL.
 */
export function registerStatic(app: TemplatedApp, deps: RouterDeps): Assets {
  const files = new Map<string, StaticFile>();
  const own = (name: string): string => {
    const file = load(path.join(STATIC_DIR, name));
    files.set(`/static/${name}`, file);
    return `/static/${name}?v=${shortHash(file.body)}`;
  };
  const htmx = htmxDist();
  const vendor = (name: string): string => {
    const url = `/static/htmx-${htmx.version}/${path.basename(name)}`;
    files.set(url, load(path.join(htmx.dir, name)));
    return url;
  };
  const assets: Assets = {
    css: own("app.css"),
    js: own("app.js"),
    icon: own("icon.svg"),
    manifest: own("manifest.webmanifest"),
    htmx: vendor("htmx.min.js"),
    hxWs: vendor("ext/hx-ws.min.js"),
  };
  // The manifest's PNG icons (static/make-icons.mjs draws them): Chrome on Android installs only with 192 and 512 px ones.
  for (const name of ["icon-192.png", "icon-512.png", "icon-maskable-512.png"]) own(name);
  vendor("htmx.min.js.map");
  vendor("ext/hx-ws.min.js.map");

  // Also at the address browsers and validators try first; pages link the versioned one.
  const manifest = files.get("/static/manifest.webmanifest")!;
  route(app, deps, "get", "/manifest.webmanifest", () => ({ status: 200, body: manifest.body, contentType: manifest.contentType, headers: { "Cache-Control": MANIFEST_CACHE } }), { auth: "none" });
  route(app, deps, "get", "/static/*", (context) => {
    const file = files.get(context.path);
    if (!file) throw new HttpError(404, `no static file ${context.path.slice(0, 100)}`);
    return { status: 200, body: file.body, contentType: file.contentType, headers: { "Cache-Control": LONG_CACHE } };
  }, { auth: "none" });
  return assets;
}
