// @ts-check
// Talking to the Nasty JSON API: one request function, the server's own error messages, and the calls the extension makes.

/** Longest wait for an answer before telling the user the server cannot be reached. */
const REQUEST_TIMEOUT_MS = 10_000;
const TAG_SUGGESTIONS_MAX = 8;

/**
 * @typedef {object} Bookmark  the API's bookmark JSON
 * @property {number} id
 * @property {string} title
 * @property {string} url
 * @property {string} description
 * @property {string} [notes]  Markdown; servers before notes leave it out
 * @property {boolean} public
 * @property {string[]} tags
 * @property {string} user
 * @property {string} inserted_at
 * @property {string} updated_at
 */

/**
 * @typedef {object} BookmarkFields  what the popup and the context menu send
 * @property {string} title
 * @property {string} url
 * @property {string} description
 * @property {string} [notes]  Markdown, as the person wrote it (the popup sends it; the context menu has none)
 * @property {string} tags  comma-separated, as in the original app
 * @property {boolean} public
 */

/** A failed call: `message` is what to show the user; `status` is 0 when no answer came. */
export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {number} status
   * @param {unknown} body  the parsed JSON answer, if any
   */
  constructor(message, status, body) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

/**
 * The server's own words for a failed answer: every `errors` entry ("url must be a valid URL"),
 * else `error`, else the status.
 * @param {unknown} json
 * @param {number} status
 */
export function serverMessage(json, status) {
  if (typeof json === "object" && json !== null) {
    const answer = /** @type {{ errors?: unknown, error?: unknown }} */ (json);
    if (typeof answer.errors === "object" && answer.errors !== null) {
      const lines = Object.entries(answer.errors).flatMap(([field, messages]) => (Array.isArray(messages) ? messages : [messages]).map((message) => `${field} ${String(message)}`));
      if (lines.length > 0) return lines.join("; ");
    }
    if (typeof answer.error === "string" && answer.error !== "") return answer.error;
  }
  return `the server answered ${status} without saying why`;
}

/**
 * Calls the API; resolves with the parsed JSON of a 2xx answer, rejects with an ApiError whose
 * message is the server's own, or "cannot reach the server at …" when no answer came. Cookies
 * are never sent: the token is the only credential.
 * @param {{ serverUrl: string, token: string }} settings
 * @param {string} method
 * @param {string} path  starting with /api/
 * @param {{ body?: unknown, auth?: boolean }} [options]  auth defaults to true
 * @returns {Promise<any>}
 */
export async function apiRequest(settings, method, path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  if (options.auth !== false && settings.token !== "") headers.Authorization = `Bearer ${settings.token}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  /** @type {Response} */
  let response;
  try {
    response = await fetch(settings.serverUrl + path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: "omit",
      cache: "no-store",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const timedOut = error instanceof DOMException && error.name === "TimeoutError";
    throw new ApiError(`cannot reach the server at ${settings.serverUrl}${timedOut ? ` (no answer in ${REQUEST_TIMEOUT_MS / 1000} s)` : ""}`, 0, null);
  }
  const text = await response.text().catch(() => "");
  /** @type {unknown} */
  let json = null;
  try {
    json = text === "" ? null : JSON.parse(text);
  } catch {
    json = null;
  }
  if (!response.ok) throw new ApiError(serverMessage(json, response.status), response.status, json);
  return json;
}

/**
 * Whose token this is.
 * @param {{ serverUrl: string, token: string }} settings
 * @returns {Promise<string>} the username
 */
export async function whoAmI(settings) {
  const answer = await apiRequest(settings, "GET", "/api/me");
  return String(answer.user.username);
}

/**
 * @typedef {object} PageMetadata  what the server read from the page itself
 * @property {string | null} title
 * @property {string | null} description
 */

/**
 * @typedef {object} UrlCheck  GET /api/bookmarks/check's answer
 * @property {Bookmark | null} saved  the caller's own bookmark of the URL (in any of its forms)
 * @property {PageMetadata | null} metadata  null when the server could not fetch the page (or fetching is off)
 */

/**
 * What the server knows of `url` (GET /api/bookmarks/check): the caller's own bookmark of it, and
 * the page's title and description as the server fetched them now. A URL the server cannot take
 * (chrome://…) answers null.
 * @param {{ serverUrl: string, token: string }} settings
 * @param {string} url
 * @returns {Promise<UrlCheck | null>}
 */
export async function checkUrl(settings, url) {
  try {
    const answer = await apiRequest(settings, "GET", `/api/bookmarks/check?${new URLSearchParams({ url })}`);
    return { saved: answer.saved ?? null, metadata: answer.metadata ?? null };
  } catch (error) {
    if (error instanceof ApiError && error.status === 400) return null;
    throw error;
  }
}

/**
 * @param {{ serverUrl: string, token: string }} settings
 * @param {number} id
 * @returns {Promise<Bookmark>}
 */
export async function getBookmark(settings, id) {
  const answer = await apiRequest(settings, "GET", `/api/bookmarks/${id}`);
  return answer.data;
}

/**
 * @param {{ serverUrl: string, token: string }} settings
 * @param {BookmarkFields} fields
 * @returns {Promise<Bookmark>}
 */
export async function createBookmark(settings, fields) {
  const answer = await apiRequest(settings, "POST", "/api/bookmarks", { body: { bookmark: fields } });
  return answer.bookmark.data;
}

/**
 * @param {{ serverUrl: string, token: string }} settings
 * @param {number} id
 * @param {BookmarkFields} fields
 * @returns {Promise<Bookmark>}
 */
export async function updateBookmark(settings, id, fields) {
  const answer = await apiRequest(settings, "PATCH", `/api/bookmarks/${id}`, { body: { bookmark: fields } });
  return answer.bookmark.data;
}

/**
 * Public tags starting with `prefix`, most used first. No token is sent: tag counts are public.
 * @param {{ serverUrl: string, token: string }} settings
 * @param {string} prefix
 * @returns {Promise<{ tag: string, count: number }[]>}
 */
export async function suggestTags(settings, prefix) {
  const query = new URLSearchParams({ q: prefix, limit: String(TAG_SUGGESTIONS_MAX) });
  const answer = await apiRequest(settings, "GET", `/api/tags?${query}`, { auth: false });
  return answer.data;
}
