// Browser sessions: tokens of kind "session" in the event log (so they survive restarts), carried by an HttpOnly cookie.
import type { Commands } from "../commands/commands.ts";
import type { Token, User } from "../store/store.ts";
import { SESSION_COOKIE } from "./cookies.ts";
import { CSRF_COOKIE } from "./csrf.ts";

/** A session cookie lives 30 days in the browser; the token itself lasts until log-out. */
export const SESSION_COOKIE_MAX_AGE_S = 30 * 24 * 3600;

function cookie(name: string, value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${name}=${encodeURIComponent(value)}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;
}

export function sessionCookie(secret: string, secure: boolean): string {
  return cookie(SESSION_COOKIE, secret, SESSION_COOKIE_MAX_AGE_S, secure);
}

export function clearedSessionCookie(secure: boolean): string {
  return cookie(SESSION_COOKIE, "", 0, secure);
}

/** The pre-log-in CSRF seed cookie: a browser-session cookie (no Max-Age would do, but a day is kinder to open tabs). */
export function csrfSeedCookie(seed: string, secure: boolean): string {
  return cookie(CSRF_COOKIE, seed, 24 * 3600, secure);
}

/** Starts a session for `user`: a durable session token whose secret goes into the cookie. */
export async function startSession(commands: Commands, user: User): Promise<string> {
  const { secret } = await commands.issueToken(user, "session", { name: "browser session" });
  return secret;
}

/** Ends the session the request came with (revokes its token); other sessions stay. */
export async function endSession(commands: Commands, user: User, token: Token | null): Promise<void> {
  if (token && token.kind === "session") await commands.revokeToken(user, token.id);
}
