// Pages for accounts: sign up, log in (rate-limited), log out, and settings with API tokens shown once.
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError, type FieldErrors } from "../errors.ts";
import type { Token, User } from "../store/store.ts";
import { clientAddress } from "../auth/password-attempts.ts";
import { clearedSessionCookie, endSession, sessionCookie, startSession } from "../auth/sessions.ts";
import { isoTime } from "../render/json.ts";
import { utcText } from "../render/html.ts";
import { idParam } from "./params.ts";
import { route, type Context } from "./router.ts";
import type { Answer } from "./respond.ts";
import { localPath, page, pageOptions, readForm, redirect, requireViewer, secureCookies, type PageContext } from "./page.ts";
import { bookmarkletHref } from "./pages-care.ts";

export function fieldErrors(error: HttpError): FieldErrors {
  const errors = error.extra.errors;
  return typeof errors === "object" && errors !== null ? (errors as FieldErrors) : {};
}

interface CredentialsForm {
  signup: boolean;
  next: string;
  /** The invitation code of the link the sign-up page was opened with. */
  invite?: string;
  username?: string;
  message?: string | null;
  errors?: FieldErrors;
  status?: number;
  headers?: Record<string, string>;
}

function credentialsPage(pages: PageContext, context: Context, form: CredentialsForm): Answer {
  const data = {
    heading: form.signup ? "Sign up" : "Log in",
    action: form.signup ? "/signup" : "/login",
    submit: form.signup ? "Create account" : "Log in",
    signup: form.signup,
    next: form.next,
    invite: form.invite ?? "",
    closed: form.signup && pages.commands.signupMode === "closed",
    inviteOnly: form.signup && pages.commands.signupMode === "invite" && !form.invite,
    username: form.username ?? "",
    message: form.message ?? null,
    errors: form.errors ?? {},
  };
  return page(pages, context, "@pages/login", data.heading, form.signup ? "signup" : "login", data, { status: form.status, anonymousForms: true, headers: form.headers });
}

/**
 * Handles a sign-up or log-in post: the command (which limits attempts by address and failures
 * by username), then a new session and its cookie. Operating errors re-show the form with the
 * message (and field messages).
 */
async function credentialsPost(pages: PageContext, context: Context, signup: boolean): Promise<Answer> {
  const fields = readForm(context);
  const next = localPath(fields.next);
  const input = { username: fields.username ?? "", password: fields.password ?? "", invite: signup ? (fields.invite ?? "") : undefined };
  const from = clientAddress(context, pages.config.trustProxy);
  try {
    let user: User;
    if (signup) {
      const registered = await pages.commands.register(input, from);
      // A page sign-up needs no API token: the one Commands.register issues is revoked unseen.
      await pages.commands.revokeToken(registered.user, registered.token.id);
      user = registered.user;
    } else {
      user = await pages.commands.authenticate(input, from);
    }
    const secret = await startSession(pages.commands, user);
    return redirect(next, { "Set-Cookie": sessionCookie(secret, secureCookies(context)) });
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    return credentialsPage(pages, context, { signup, next, invite: input.invite, username: input.username, message: error.message, errors: fieldErrors(error), status: error.status, headers: error.headers });
  }
}

function ownTokens(pages: PageContext, user: User): { api: Token[]; sessions: number } {
  const api: Token[] = [];
  let sessions = 0;
  for (const token of pages.store.tokensById.values()) {
    if (token.user !== user) continue;
    if (token.kind === "api") api.push(token);
    else sessions += 1;
  }
  return { api: api.reverse(), sessions };
}

interface SettingsExtras {
  created?: { name: string; secret: string };
  message?: string;
  name?: string;
  status?: number;
  /** What the password form says: its error, or that the change was made. */
  passwordMessage?: string;
  passwordChanged?: boolean;
  deleteMessage?: string;
}

function settingsPage(pages: PageContext, context: Context, extras: SettingsExtras = {}): Answer {
  const viewer = requireViewer(context);
  const { api, sessions } = ownTokens(pages, viewer);
  const tokens = api.map((token) => ({ id: token.id, name: token.name, createdAt: isoTime(token.createdAt), createdAtText: utcText(token.createdAt) }));
  const data = {
    tokens, sessions, created: extras.created ?? null, message: extras.message ?? null, name: extras.name ?? "", bookmarklet: bookmarkletHref(context.site.origin),
    passwordMessage: extras.passwordMessage ?? null, passwordChanged: extras.passwordChanged === true, deleteMessage: extras.deleteMessage ?? null,
  };
  return page(pages, context, "@pages/settings", "Settings", "settings", data, { status: extras.status });
}

/**
 * Runs a settings form's command; an operating error re-shows the page with the message where
 * `place` puts it (a 429's Retry-After too).
 */
async function settingsForm(pages: PageContext, context: Context, run: (viewer: User, fields: Record<string, string>) => Promise<Answer>, place: (message: string) => SettingsExtras): Promise<Answer> {
  const viewer = requireViewer(context);
  const fields = readForm(context);
  try {
    return await run(viewer, fields);
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    const answer = settingsPage(pages, context, { ...place(error.message), status: error.status });
    return { ...answer, headers: { ...answer.headers, ...error.headers } };
  }
}

export function registerAuthPages(app: TemplatedApp, pages: PageContext): void {
  const options = pageOptions(pages);
  const withBody = pageOptions(pages, { body: true });

  for (const signup of [false, true]) {
    const path = signup ? "/signup" : "/login";
    route(app, pages, "get", path, (context) => {
      const next = localPath(context.query.get("next"));
      if (context.viewer) return redirect(next);
      return credentialsPage(pages, context, { signup, next, invite: signup ? (context.query.get("invite") ?? "").slice(0, 100) : "" });
    }, options);
    route(app, pages, "post", path, (context) => credentialsPost(pages, context, signup), withBody);
  }

  route(app, pages, "post", "/logout", async (context) => {
    const secure = secureCookies(context);
    if (context.viewer && context.via === "cookie") {
      readForm(context);
      await endSession(pages.commands, context.viewer, context.token);
    }
    return redirect("/", { "Set-Cookie": clearedSessionCookie(secure) });
  }, withBody);

  route(app, pages, "get", "/settings", (context) => settingsPage(pages, context), options);

  route(app, pages, "post", "/settings/tokens", async (context) => {
    const viewer = requireViewer(context);
    const fields = readForm(context);
    try {
      const { token, secret } = await pages.commands.issueToken(viewer, "api", { name: fields.name ?? "" });
      return settingsPage(pages, context, { created: { name: token.name, secret } });
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      return settingsPage(pages, context, { message: error.message, name: fields.name ?? "", status: error.status });
    }
  }, withBody);

  route(app, pages, "post", "/settings/password", (context) => settingsForm(pages, context, async (viewer, fields) => {
    await pages.commands.changePassword(viewer, context.token!, { current_password: fields.current_password ?? "", new_password: fields.new_password ?? "" });
    return settingsPage(pages, context, { passwordChanged: true });
  }, (message) => ({ passwordMessage: message })), withBody);

  route(app, pages, "post", "/settings/delete", (context) => settingsForm(pages, context, async (viewer, fields) => {
    await pages.commands.deleteOwnAccount(viewer, { password: fields.password ?? "" });
    return redirect("/", { "Set-Cookie": clearedSessionCookie(secureCookies(context)) });
  }, (message) => ({ deleteMessage: message })), withBody);

  route(app, pages, "post", "/settings/tokens/:id/revoke", async (context) => {
    const viewer = requireViewer(context);
    readForm(context);
    await pages.commands.revokeToken(viewer, idParam(context.params[0], "token"));
    return redirect("/settings");
  }, withBody);
}
