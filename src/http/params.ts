// Query and path parameters of HTTP routes, parsed into values or a 400/404 naming the problem.
import { HttpError } from "../errors.ts";
import { normalizeTags } from "../commands/schemas.ts";
import { decodeCursor, isAdmin, type Store, type User } from "../store/store.ts";
import type { Context } from "./router.ts";

/** A whole number query parameter within bounds, or a 400 naming it. */
export function intParam(context: Context, name: string, fallback: number, min: number, max: number): number {
  const raw = context.query.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new HttpError(400, `${name} must be a whole number from ${min} to ${max}, got '${raw.slice(0, 40)}'`);
  return Number(raw);
}

export function cursorParam(context: Context): number | undefined {
  const raw = context.query.get("cursor");
  if (raw === null || raw === "") return undefined;
  const ord = decodeCursor(raw);
  if (ord === null) throw new HttpError(400, `cursor '${raw.slice(0, 40)}' is not one this server handed out`);
  return ord;
}

export function idParam(raw: string | undefined, what = "bookmark"): number {
  if (!raw || !/^\d{1,16}$/.test(raw)) throw new HttpError(404, `no ${what} '${(raw ?? "").slice(0, 40)}'`);
  return Number(raw);
}

export function userParam(store: Store, name: string): User {
  const user = store.userByName(name);
  if (!user) throw new HttpError(404, `no user named '${name.slice(0, 40)}'`);
  return user;
}

/** true/false (also yes/no, 1/0) or absent (undefined); anything else is a 400 naming it. */
export function booleanParam(context: Context, name: string): boolean | undefined {
  const raw = (context.query.get(name) ?? "").toLowerCase();
  if (raw === "") return undefined;
  if (raw === "true" || raw === "yes" || raw === "1") return true;
  if (raw === "false" || raw === "no" || raw === "0") return false;
  throw new HttpError(400, `${name} must be true or false, got '${raw.slice(0, 40)}'`);
}

/** `tag=a&tag=b` or `tag=a,b` (also `+`): all must match. */
export function tagsParam(context: Context): string[] {
  return normalizeTags(context.query.getAll("tag").flatMap((value) => value.split(/[,+]/)));
}

/** The viewer if they are an admin: 401 when nobody is logged in, 403 for a member. Every admin route (API and pages) asks this first. */
export function adminViewer(context: Context): User {
  if (!context.viewer) throw new HttpError(401, "log in as an admin to use this");
  if (!isAdmin(context.viewer)) throw new HttpError(403, `only admins may use ${context.path.slice(0, 60)}; ${context.viewer.username} is a member`);
  return context.viewer;
}
