// @ts-check
// The extension's settings in chrome.storage.local, and how a server URL becomes the one host permission it asks for.

export const SERVER_URL_DEFAULT = "http://localhost:4000";

/**
 * @typedef {object} Settings
 * @property {string} serverUrl  base URL of the Nasty server, without a trailing slash
 * @property {string} token      API token sent as `Authorization: Bearer <token>`; "" when not set
 * @property {boolean} publicByDefault  whether new bookmarks start out public
 */

/** @returns {Promise<Settings>} */
export async function loadSettings() {
  const stored = await chrome.storage.local.get(["serverUrl", "token", "publicByDefault"]);
  return {
    serverUrl: typeof stored.serverUrl === "string" && stored.serverUrl !== "" ? stored.serverUrl : SERVER_URL_DEFAULT,
    token: typeof stored.token === "string" ? stored.token : "",
    publicByDefault: typeof stored.publicByDefault === "boolean" ? stored.publicByDefault : true,
  };
}

/** @param {Settings} settings */
export async function saveSettings(settings) {
  await chrome.storage.local.set({ serverUrl: settings.serverUrl, token: settings.token, publicByDefault: settings.publicByDefault });
}

/**
 * Turns what someone typed into a server base URL (scheme, host, port and an optional path, no
 * trailing slash), or throws an Error whose message names the problem.
 * @param {string} text
 * @returns {string}
 */
export function normalizeServerUrl(text) {
  const trimmed = text.trim();
  /** @type {URL} */
  let url;
  try {
    url = new URL(trimmed);
  } catch {
    throw new Error(`'${trimmed}' is not a URL; expected something like ${SERVER_URL_DEFAULT}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`the server URL must start with http:// or https://, not ${url.protocol}//`);
  if (url.username !== "" || url.password !== "") throw new Error("put the API token in the token field, not in the server URL");
  if (url.search !== "" || url.hash !== "") throw new Error("the server URL must not have a ?query or #fragment");
  return url.origin + url.pathname.replace(/\/+$/, "");
}

/**
 * The host permission covering exactly the server's origin (scheme, host and port).
 * @param {string} serverUrl
 */
export function originPattern(serverUrl) {
  return `${new URL(serverUrl).origin}/*`;
}

/**
 * Whether the extension may talk to the server (the user granted its origin).
 * @param {string} serverUrl
 */
export function hasServerAccess(serverUrl) {
  return chrome.permissions.contains({ origins: [originPattern(serverUrl)] });
}
