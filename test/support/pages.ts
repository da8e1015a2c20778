// Test support for pages: a cookie-keeping HTTP client that fills forms with their CSRF token, like a browser without JavaScript.
import assert from "node:assert/strict";

export interface PageReply {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
  setCookies: string[];
}

/** The value of the hidden `_csrf` field in a page, or "" when it has none. */
export function csrfOf(html: string): string {
  return /name="_csrf" value="([^"]*)"/.exec(html)?.[1] ?? "";
}

export class PageClient {
  readonly cookies = new Map<string, string>();
  /** The last page fetched with GET: its CSRF token fills the next form. */
  lastPage = "";

  constructor(readonly base: string) {}

  cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  private async send(method: string, path: string, body: string | undefined, headers: Record<string, string>): Promise<PageReply> {
    const cookie = this.cookieHeader();
    const response = await fetch(this.base + path, {
      method,
      body,
      redirect: "manual",
      headers: { ...(cookie ? { cookie } : {}), ...(body !== undefined ? { "content-type": "application/x-www-form-urlencoded" } : {}), ...headers },
    });
    const setCookies = response.headers.getSetCookie();
    for (const line of setCookies) {
      const [pair] = line.split(";");
      const index = pair!.indexOf("=");
      const name = pair!.slice(0, index).trim();
      const value = pair!.slice(index + 1).trim();
      if (/max-age=0\b/i.test(line) || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: response.status, headers: response.headers, text: await response.text(), location: response.headers.get("location"), setCookies };
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<PageReply> {
    const reply = await this.send("GET", path, undefined, headers);
    if (reply.status === 200) this.lastPage = reply.text;
    return reply;
  }

  /** Posts a form; `_csrf` comes from the last page unless given (null leaves it out). */
  async post(path: string, fields: Record<string, string>, options: { csrf?: string | null; headers?: Record<string, string> } = {}): Promise<PageReply> {
    const csrf = options.csrf === undefined ? csrfOf(this.lastPage) : options.csrf;
    const form = new URLSearchParams(fields);
    if (csrf !== null) form.set("_csrf", csrf);
    return this.send("POST", path, form.toString(), options.headers ?? {});
  }

  /** Signs up through the page (GET for the CSRF cookie and token, then POST); now logged in. */
  async signUp(username: string, password = "correct horse"): Promise<void> {
    await this.get("/signup");
    const reply = await this.post("/signup", { username, password });
    assert.equal(reply.status, 303, `sign-up of ${username}: ${reply.status} ${reply.text.slice(0, 300)}`);
  }

  async logIn(username: string, password = "correct horse"): Promise<PageReply> {
    await this.get("/login");
    return this.post("/login", { username, password });
  }
}
