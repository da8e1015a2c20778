// @ts-check
// The service worker: the "Save link to Nasty" context-menu item, saving a link without opening the popup.
import { createBookmark } from "./lib/api.js";
import { hasServerAccess, loadSettings } from "./lib/settings.js";

const MENU_ID = "nasty-save-link";
const TITLE_CHARS_MAX = 500;

chrome.runtime.onInstalled.addListener(() => {
  // On an update the old item may still be there; creating the same id twice is an error.
  chrome.contextMenus.removeAll(() => chrome.contextMenus.create({ id: MENU_ID, title: "Save link to Nasty", contexts: ["link"] }));
});

chrome.contextMenus.onClicked.addListener((info, tab) => {
  if (info.menuItemId === MENU_ID && info.linkUrl) void saveLink(info.linkUrl, info, tab);
});

/**
 * Runs in the page: the text of the first link to `href` (or its image's alt text, or its title).
 * @param {string} href
 */
function readLinkText(href) {
  for (const link of document.querySelectorAll("a[href]")) {
    if (!(link instanceof HTMLAnchorElement) || link.href !== href) continue;
    const text = (link.innerText || link.textContent || "").replace(/\s+/g, " ").trim();
    const alt = link.querySelector("img[alt]")?.getAttribute("alt")?.trim() ?? "";
    const title = link.getAttribute("title")?.trim() ?? "";
    return text || alt || title || null;
  }
  return null;
}

/**
 * The link's text when the page lets us read it (the menu click grants activeTab), else the
 * selected text, else the URL itself.
 * @param {string} linkUrl
 * @param {chrome.contextMenus.OnClickData} info
 * @param {chrome.tabs.Tab | undefined} tab
 */
async function linkTitle(linkUrl, info, tab) {
  if (tab?.id !== undefined && tab.id >= 0) {
    try {
      const [frame] = await chrome.scripting.executeScript({ target: { tabId: tab.id, frameIds: [info.frameId ?? 0] }, func: readLinkText, args: [linkUrl] });
      if (typeof frame?.result === "string" && frame.result !== "") return frame.result.slice(0, TITLE_CHARS_MAX);
    } catch {
      // The page is closed to extensions (chrome://, the web store) or we were not given access.
    }
  }
  const selected = info.selectionText?.trim() ?? "";
  return (selected || linkUrl).slice(0, TITLE_CHARS_MAX);
}

/**
 * Shows how a context-menu save went on the toolbar button of that tab: a badge, and the
 * message as the button's tooltip.
 * @param {chrome.tabs.Tab | undefined} tab
 * @param {boolean} ok
 * @param {string} message
 */
async function report(tab, ok, message) {
  const tabId = tab?.id !== undefined && tab.id >= 0 ? tab.id : undefined;
  await chrome.action.setBadgeBackgroundColor({ color: ok ? "#0a7d3b" : "#b3152b", tabId });
  await chrome.action.setBadgeText({ text: ok ? "✓" : "!", tabId });
  await chrome.action.setTitle({ title: `Nasty Bookmarker: ${message}`, tabId });
}

/**
 * Saves `linkUrl` as a bookmark with the default visibility and no tags.
 * @param {string} linkUrl
 * @param {chrome.contextMenus.OnClickData} info
 * @param {chrome.tabs.Tab | undefined} tab
 */
async function saveLink(linkUrl, info, tab) {
  const settings = await loadSettings();
  if (settings.token === "") {
    await report(tab, false, "set your server and API token in the options first");
    await chrome.runtime.openOptionsPage();
    return;
  }
  if (!(await hasServerAccess(settings.serverUrl))) {
    await report(tab, false, `allow access to ${settings.serverUrl} in the options first`);
    await chrome.runtime.openOptionsPage();
    return;
  }
  try {
    const title = await linkTitle(linkUrl, info, tab);
    const bookmark = await createBookmark(settings, { title, url: linkUrl, description: "", tags: "", public: settings.publicByDefault });
    await report(tab, true, `saved “${bookmark.title}”`);
  } catch (error) {
    await report(tab, false, error instanceof Error ? error.message : String(error));
  }
}
