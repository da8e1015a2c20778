// Cookies: the session cookie's name and reading one cookie out of a Cookie header.

export const SESSION_COOKIE = "nasty_session";

export function cookieValue(cookieHeader: string, name: string): string | null {
  for (const part of cookieHeader.split(";")) {
    const index = part.indexOf("=");
    if (index > 0 && part.slice(0, index).trim() === name) return decodeURIComponent(part.slice(index + 1).trim());
  }
  return null;
}
