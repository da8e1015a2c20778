// Cookies: the session cookie's name and reading one cookie out of a Cookie header.
import { percentDecode } from "../text.ts";

export const SESSION_COOKIE = "nasty_session";

/** The value of cookie `name`, percent-decoded; a value that does not decode is ignored like an absent one. */
export function cookieValue(cookieHeader: string, name: string): string | null {
  for (const part of cookieHeader.split(";")) {
    const index = part.indexOf("=");
    if (index > 0 && part.slice(0, index).trim() === name) return percentDecode(part.slice(index + 1).trim());
  }
  return null;
}
