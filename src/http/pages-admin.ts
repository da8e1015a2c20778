// The /admin page: the live overview (render/admin.ts) and the forms its buttons submit; members get 403, visitors the log-in page.
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import { SIGNUP_MODES } from "../events.ts";
import { invitePath } from "../commands/commands.ts";
import { adminOverview, renderAdminPanel } from "../render/admin.ts";
import { ADMIN_TOPIC } from "../realtime/topics.ts";
import { route, type Context } from "./router.ts";
import { adminViewer, idParam, userParam } from "./params.ts";
import type { Answer } from "./respond.ts";
import { page, pageOptions, readForm, type PageContext } from "./page.ts";

/** The forms the panel's buttons submit (`form="admin-<action>"`), each a POST to /admin/<action>. */
const PANEL_ACTIONS = ["suspend", "unsuspend", "make-admin", "delete-user", "delete-bookmark", "delete-comment"] as const;
type PanelAction = (typeof PANEL_ACTIONS)[number];

function adminPage(pages: PageContext, context: Context, shown: { message?: string; invite?: string; status?: number } = {}): Answer {
  adminViewer(context);
  const overview = adminOverview(pages.store, pages.commands.signupMode);
  return page(pages, context, "@pages/admin", "Admin", "admin", {
    signup: overview.signup, modes: SIGNUP_MODES, actions: PANEL_ACTIONS, panelHtml: renderAdminPanel(overview),
    message: shown.message ?? null, invite: shown.invite ?? null,
  }, { live: ADMIN_TOPIC, status: shown.status });
}

/** Runs one panel action on the form's `username` or `id`; what it did, for the page's notice. */
async function panelAction(pages: PageContext, context: Context, action: PanelAction, fields: Record<string, string>): Promise<string> {
  const actor = adminViewer(context);
  const user = () => userParam(pages.store, (fields.username ?? "").trim().toLowerCase());
  switch (action) {
    case "suspend":
    case "unsuspend": {
      const target = user();
      await pages.commands.setSuspended(actor, target, action === "suspend");
      return `${target.username} is ${action === "suspend" ? "suspended" : "no longer suspended"}`;
    }
    case "make-admin": {
      const target = user();
      await pages.commands.setRole(actor, target, "admin");
      return `${target.username} is an admin`;
    }
    case "delete-user": {
      const target = user();
      await pages.commands.deleteUser(actor, target);
      return `the account ${target.username} is deleted`;
    }
    case "delete-bookmark": {
      const id = idParam(fields.id);
      await pages.commands.deleteBookmark(actor, id);
      return `bookmark ${id} is deleted`;
    }
    case "delete-comment": {
      const id = idParam(fields.id);
      await pages.commands.deleteComment(actor, id);
      return `comment ${id} is deleted`;
    }
  }
}

export function registerAdminPages(app: TemplatedApp, pages: PageContext): void {
  const options = pageOptions(pages);
  const withBody = pageOptions(pages, { body: true });
  route(app, pages, "get", "/admin", (context) => adminPage(pages, context), options);
  for (const action of PANEL_ACTIONS) {
    route(app, pages, "post", `/admin/${action}`, async (context) => {
      adminViewer(context);
      const fields = readForm(context);
      try {
        return adminPage(pages, context, { message: await panelAction(pages, context, action, fields) });
      } catch (error) {
        if (!(error instanceof HttpError) || error.status === 401 || (error.status === 403 && error.message.startsWith("only admins"))) throw error;
        return adminPage(pages, context, { message: error.message, status: error.status });
      }
    }, withBody);
  }
  route(app, pages, "post", "/admin/signup", async (context) => {
    const actor = adminViewer(context);
    const fields = readForm(context);
    const mode = await pages.commands.setSignup(actor, { mode: fields.mode });
    return adminPage(pages, context, { message: `sign-up is ${mode}` });
  }, withBody);
  route(app, pages, "post", "/admin/invites", async (context) => {
    const actor = adminViewer(context);
    readForm(context);
    const secret = await pages.commands.createInvite(actor);
    return adminPage(pages, context, { invite: `${context.site.origin}${invitePath(secret)}` });
  }, withBody);
}
