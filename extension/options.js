// @ts-check
// The options page: server URL and token in chrome.storage, access to that one server, and "Test connection".
import { apiRequest, whoAmI } from "./lib/api.js";
import { loadSettings, normalizeServerUrl, originPattern, saveSettings } from "./lib/settings.js";
import { element, messageOf, showStatus } from "./lib/ui.js";

const form = /** @type {HTMLFormElement} */ (element("form"));
const serverInput = /** @type {HTMLInputElement} */ (element("server"));
const tokenInput = /** @type {HTMLInputElement} */ (element("token"));
const publicInput = /** @type {HTMLInputElement} */ (element("public"));
const testButton = /** @type {HTMLButtonElement} */ (element("test"));

/**
 * Asks for access to the server's origin. Must be the first await of a click handler: Chrome only
 * shows the prompt during a user gesture. Resolves false when the person declines.
 * @param {string} serverUrl
 */
function requestAccess(serverUrl) {
  return chrome.permissions.request({ origins: [originPattern(serverUrl)] });
}

/**
 * Gives back access to every origin but the configured server's, so the extension never holds more
 * than it needs after the server changes.
 * @param {string} serverUrl
 */
async function dropOtherOrigins(serverUrl) {
  const keep = originPattern(serverUrl);
  const granted = await chrome.permissions.getAll();
  const others = (granted.origins ?? []).filter((origin) => origin !== keep);
  if (others.length > 0) await chrome.permissions.remove({ origins: others });
}

/** @returns {string | null} the server URL from the field, or null after saying what is wrong with it */
function serverFromField() {
  try {
    return normalizeServerUrl(serverInput.value);
  } catch (error) {
    showStatus(messageOf(error), "error");
    serverInput.focus();
    return null;
  }
}

/** @param {string} serverUrl */
function noAccessMessage(serverUrl) {
  return `Nasty Bookmarker may not talk to ${serverUrl} until you allow it: press the button again and choose Allow.`;
}

async function save() {
  const serverUrl = serverFromField();
  if (serverUrl === null) return;
  const granted = await requestAccess(serverUrl);
  await saveSettings({ serverUrl, token: tokenInput.value.trim(), publicByDefault: publicInput.checked });
  serverInput.value = serverUrl;
  if (!granted) return showStatus(`Saved, but ${noAccessMessage(serverUrl)}`, "error");
  await dropOtherOrigins(serverUrl);
  showStatus(tokenInput.value.trim() === "" ? "Saved. Add an API token to save bookmarks." : "Saved.", "ok");
}

/** Tries the fields as they are (saved or not): reaches the server and says whose token it is. */
async function testConnection() {
  const serverUrl = serverFromField();
  if (serverUrl === null) return;
  const granted = await requestAccess(serverUrl);
  if (!granted) return showStatus(noAccessMessage(serverUrl), "error");
  const settings = { serverUrl, token: tokenInput.value.trim() };
  testButton.disabled = true;
  showStatus(`Connecting to ${serverUrl}…`, "");
  try {
    if (settings.token === "") {
      await apiRequest(settings, "GET", "/api/status", { auth: false });
      showStatus(`Reached the Nasty server at ${serverUrl}. Now add your API token.`, "ok");
    } else {
      const username = await whoAmI(settings);
      showStatus(`Connected to ${serverUrl}: this token belongs to ${username}.`, "ok");
    }
  } catch (error) {
    showStatus(messageOf(error), "error");
  } finally {
    testButton.disabled = false;
  }
}

async function start() {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save().catch((error) => showStatus(messageOf(error), "error"));
  });
  testButton.addEventListener("click", () => {
    testConnection().catch((error) => showStatus(messageOf(error), "error"));
  });
  const settings = await loadSettings();
  serverInput.value = settings.serverUrl;
  tokenInput.value = settings.token;
  publicInput.checked = settings.publicByDefault;
  const commands = await chrome.commands.getAll();
  const shortcut = commands.find((command) => command.name === "_execute_action")?.shortcut;
  element("shortcut").textContent = shortcut || "no shortcut set";
}

void start();
