// The admin API under /api/admin: the overview, suspension, roles, account deletion, sign-up mode and invitations; members get 403.
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import type { Role } from "../events.ts";
import { invitePath, type Commands } from "../commands/commands.ts";
import { adminOverview, adminUserJson, ADMIN_ROWS_MAX } from "../render/admin.ts";
import { jsonBody, jsonObjectBody, route, type Context, type RouterDeps } from "./router.ts";
import { adminViewer, intParam, userParam } from "./params.ts";
import type { Answer } from "./respond.ts";

export interface AdminApiDeps extends RouterDeps {
  commands: Commands;
}

const ROLES: readonly Role[] = ["admin", "member"];

function roleOf(body: unknown): Role {
  const role = typeof body === "object" && body !== null ? (body as Record<string, unknown>).role : undefined;
  if (!ROLES.includes(role as Role)) throw new HttpError(422, `role must be one of ${ROLES.join(", ")}`, { errors: { role: [`must be one of ${ROLES.join(", ")}`] } });
  return role as Role;
}

/** Registers every /api/admin route (before the API's catch-all). Bookmarks and comments are deleted through their own DELETE routes. */
export function registerAdminApi(app: TemplatedApp, deps: AdminApiDeps): void {
  const admin = { auth: "required" } as const;
  const adminWrite = { auth: "required", body: true } as const;
  const user = (context: Context) => userParam(deps.store, context.params[0] ?? "");
  const done: Answer = { status: 204 };

  route(app, deps, "get", "/api/admin", (context) => {
    adminViewer(context);
    return { status: 200, json: adminOverview(deps.store, deps.commands.signupMode, intParam(context, "limit", ADMIN_ROWS_MAX, 1, ADMIN_ROWS_MAX)) };
  }, admin);
  route(app, deps, "get", "/api/admin/users/:name", (context) => {
    adminViewer(context);
    return { status: 200, json: { user: adminUserJson(user(context)) } };
  }, admin);
  route(app, deps, "post", "/api/admin/users/:name/suspend", async (context) => {
    await deps.commands.setSuspended(adminViewer(context), user(context), true);
    return done;
  }, admin);
  route(app, deps, "post", "/api/admin/users/:name/unsuspend", async (context) => {
    await deps.commands.setSuspended(adminViewer(context), user(context), false);
    return done;
  }, admin);
  route(app, deps, "put", "/api/admin/users/:name/role", async (context) => {
    const actor = adminViewer(context);
    await deps.commands.setRole(actor, user(context), roleOf(jsonBody(context)));
    return done;
  }, adminWrite);
  route(app, deps, "del", "/api/admin/users/:name", async (context) => {
    await deps.commands.deleteUser(adminViewer(context), user(context));
    return done;
  }, admin);
  route(app, deps, "get", "/api/admin/signup", (context) => {
    adminViewer(context);
    return { status: 200, json: { mode: deps.commands.signupMode } };
  }, admin);
  route(app, deps, "put", "/api/admin/signup", async (context) => {
    const actor = adminViewer(context);
    return { status: 200, json: { mode: await deps.commands.setSignup(actor, jsonObjectBody(context, "the sign-up 'mode'")) } };
  }, adminWrite);
  route(app, deps, "post", "/api/admin/invites", async (context) => {
    const secret = await deps.commands.createInvite(adminViewer(context));
    return { status: 201, json: { invite: secret, url: `${context.site.origin}${invitePath(secret)}` } };
  }, admin);
}
