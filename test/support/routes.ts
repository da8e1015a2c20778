// Test support for walking the route table: a server with one of everything, and a real path for every registered pattern.
import type { RouteEntry } from "../../src/http/router.ts";
import type { Nasty, StartOptions } from "../../src/main.ts";
import { createBookmark, request, signUp, startTestServer } from "./server.ts";

/** Real ids and names to fill a pattern's parameters with. */
export interface Fixtures {
  nasty: Nasty;
  token: string;
  username: string;
  bookmarkId: number;
  tokenId: number;
  tagId: number;
  tag: string;
  stylesheet: string;
}

/**
 * A server holding one user with one public bookmark (one tag, one comment) and a second token:
 * with a single bookmark, random picks are the same on every request, so two answers compare.
 */
export async function startWithFixtures(overrides: Record<string, string> = {}, options: StartOptions = {}): Promise<Fixtures> {
  const nasty = await startTestServer(overrides, options);
  const base = nasty.url;
  const username = "walker";
  const token = await signUp(base, username);
  const tag = "walked";
  const bookmark = await createBookmark(base, token, { url: "https://walk.example/", title: "Walked", tags: [tag] });
  await request(base, "POST", `/api/bookmarks/${bookmark.id}/comments`, { token, body: { body: "a comment" } });
  const second = await request(base, "POST", "/api/tokens", { body: { username, password: "correct horse", name: "second" } });
  if (second.status !== 201) throw new Error(`second token: ${second.status} ${second.text}`);
  const tokens = [...nasty.store.tokensByHash.values()].filter((candidate) => candidate.user.username === username);
  const tokenId = Number(tokens[tokens.length - 1]!.id);
  const tags = await request(base, "GET", "/api/tags/", { token });
  const tagId = Number(tags.json.results[0].id);
  const home = await request(base, "GET", "/");
  const stylesheet = /href="(\/static\/[^"?]+\.css)/.exec(home.text)?.[1];
  if (!stylesheet) throw new Error("no stylesheet link on /");
  return { nasty, token, username, bookmarkId: bookmark.id, tokenId, tagId, tag, stylesheet };
}

/** A value for each parameter, by pattern and name; a pattern the table gains must be added here. */
function parameter(pattern: string, name: string, fixtures: Fixtures): string {
  if (name === "name") return fixtures.username;
  if (pattern === "/feeds/:file") return "firehose.rss";
  if (pattern === "/feeds/u/:file") return `${fixtures.username}.rss`;
  if (pattern === "/settings/tokens/:id/revoke") return String(fixtures.tokenId);
  if (pattern.startsWith("/api/tags/:id")) return String(fixtures.tagId);
  if (name === "id") return String(fixtures.bookmarkId);
  throw new Error(`no sample value for :${name} of ${pattern}; add one to test/support/routes.ts`);
}

/** What a wildcard stands for, by pattern. */
function wildcard(pattern: string, fixtures: Fixtures): string {
  switch (pattern) {
    case "/t/*": return fixtures.tag;
    case "/feeds/t/*": return `${fixtures.tag}.rss`;
    case "/static/*": return fixtures.stylesheet.slice("/static/".length);
    case "/v1/*": return "posts/recent";
    case "/api/*": return "nothing-here";
    case "/*": return "nothing-here";
    default: throw new Error(`no sample for the wildcard of ${pattern}; add one to test/support/routes.ts`);
  }
}

/** The segments of `pattern` that vary: `:name` parameters and a trailing `*`. */
export function slots(pattern: string): number[] {
  return pattern.split("/").flatMap((segment, index) => (segment.startsWith(":") || segment === "*" ? [index] : []));
}

/** A real path for `pattern`; the segment at `replaced.index` (a slot) becomes `replaced.with` as sent. */
export function samplePath(pattern: string, fixtures: Fixtures, replaced?: { index: number; with: string }): string {
  return pattern
    .split("/")
    .map((segment, index) => {
      if (replaced?.index === index) return replaced.with;
      if (segment.startsWith(":")) return encodeURIComponent(parameter(pattern, segment.slice(1), fixtures));
      if (segment === "*") return wildcard(pattern, fixtures);
      return segment;
    })
    .join("/");
}

export const HTTP_METHOD: Record<RouteEntry["method"], string> = { get: "GET", post: "POST", patch: "PATCH", put: "PUT", del: "DELETE", any: "GET" };
