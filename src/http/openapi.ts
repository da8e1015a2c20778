// GET /api/openapi.json: docs/openapi.yaml, the JSON API's description, converted once at start and served as bytes.
import fs from "node:fs";
import type { TemplatedApp } from "uWebSockets.js";
import { parse } from "yaml";
import { route, type RouterDeps } from "./router.ts";
import { JSON_TYPE } from "./respond.ts";

export const OPENAPI_FILE = new URL("../../docs/openapi.yaml", import.meta.url);

/** The description as a plain object; a YAML error (a broken file) stops start-up with the parser's message. */
export function loadOpenApi(file: URL | string = OPENAPI_FILE): Record<string, unknown> {
  const document: unknown = parse(fs.readFileSync(file, "utf8"), { prettyErrors: true });
  if (typeof document !== "object" || document === null || Array.isArray(document)) throw new Error(`${String(file)} is not an OpenAPI document (not a mapping)`);
  return document as Record<string, unknown>;
}

export function registerOpenApi(app: TemplatedApp, deps: RouterDeps): void {
  const bytes = Buffer.from(JSON.stringify(loadOpenApi()));
  route(app, deps, "get", "/api/openapi.json", () => ({ status: 200, body: bytes, contentType: JSON_TYPE, headers: { "Cache-Control": "public, max-age=300" } }), { auth: "none" });
}
