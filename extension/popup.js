// @ts-check
// The popup: pre-fills the current tab (and what it lacks from the server's look at the page), suggests tags from the server as you type, and saves the bookmark (or updates yours).
import { ApiError, checkUrl, createBookmark, getBookmark, suggestTags, updateBookmark, whoAmI } from "./lib/api.js";
import { hasServerAccess, loadSettings } from "./lib/settings.js";
import { element, messageOf, showStatus } from "./lib/ui.js";
import { completeTag, currentFragment, enteredTags, tagsForApi } from "./lib/tags.js";

/** The original popup closed itself this long after "Bookmark saved!". */
const CLOSE_AFTER_SAVE_MS = 3000;
/** Typing pause before asking the server for tags. */
const SUGGEST_DELAY_MS = 120;
const TITLE_CHARS_MAX = 500;
const DESCRIPTION_CHARS_MAX = 10_000;

const form = /** @type {HTMLFormElement} */ (element("form"));
const titleInput = /** @type {HTMLInputElement} */ (element("title"));
const urlInput = /** @type {HTMLInputElement} */ (element("url"));
const tagsInput = /** @type {HTMLInputElement} */ (element("tags"));
const suggestionList = /** @type {HTMLUListElement} */ (element("suggestions"));
const descriptionInput = /** @type {HTMLTextAreaElement} */ (element("description"));
const notesInput = /** @type {HTMLTextAreaElement} */ (element("notes"));
const publicInput = /** @type {HTMLInputElement} */ (element("public"));
const publicLabel = /** @type {HTMLElement} */ (element("public-label"));
const saveButton = /** @type {HTMLButtonElement} */ (element("save"));
const notice = /** @type {HTMLElement} */ (element("notice"));
const setup = /** @type {HTMLElement} */ (element("setup"));
const who = /** @type {HTMLElement} */ (element("who"));

/**
 * `titled`: the tab had a title of its own (a page without one shows its address instead).
 * @type {{ settings: import("./lib/settings.js").Settings | null, existing: import("./lib/api.js").Bookmark | null, saving: boolean, saved: boolean, titled: boolean }}
 */
const state = { settings: null, existing: null, saving: false, saved: false, titled: false };

/** Fields the person typed in: nothing fetched is put over them. */
const typed = new Set();

/**
 * Points the person to the options page, with `text` saying why.
 * @param {string} text
 */
function offerOptions(text) {
  element("setup-text").textContent = text;
  setup.hidden = false;
}

/** @param {string} text why nothing can be saved until the options change */
function showSetup(text) {
  offerOptions(text);
  saveButton.disabled = true;
}

/**
 * Shows a failed call in the server's own words; a refused token also points to the options.
 * @param {unknown} error
 */
function showFailure(error) {
  showStatus(messageOf(error), "error");
  if (error instanceof ApiError && error.status === 401) offerOptions("Check the API token in the options.");
}

function showVisibility() {
  publicLabel.textContent = publicInput.checked ? "Public" : "Private (only you)";
}

/**
 * The tab to bookmark: `?tab=<id>` when the popup was opened as a page for a given tab, else the
 * active tab of this window. The popup page itself (opened in a tab without ?tab) is no page to save.
 * @returns {Promise<chrome.tabs.Tab | null>}
 */
async function currentTab() {
  const requested = new URLSearchParams(location.search).get("tab");
  if (requested !== null && /^\d+$/.test(requested)) return chrome.tabs.get(Number(requested)).catch(() => null);
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  if (!tab || (tab.url ?? "").startsWith(chrome.runtime.getURL(""))) return null;
  return tab;
}

/** Runs in the page: its meta description, if it has one. */
function readPageDescription() {
  for (const selector of ['meta[name="description" i]', 'meta[property="og:description"]', 'meta[name="twitter:description" i]']) {
    const content = document.querySelector(selector)?.getAttribute("content")?.trim();
    if (content) return content;
  }
  return null;
}

/**
 * Fills the description from the page's meta description when the page lets us read it (activeTab),
 * unless the person already typed one or is updating a saved bookmark.
 * @param {number} tabId
 */
async function prefillDescription(tabId) {
  try {
    const [frame] = await chrome.scripting.executeScript({ target: { tabId }, func: readPageDescription });
    const text = typeof frame?.result === "string" ? frame.result : "";
    if (text !== "" && descriptionInput.value === "" && !state.existing) descriptionInput.value = text.slice(0, DESCRIPTION_CHARS_MAX);
  } catch {
    // chrome:// pages, the web store and pages we were not given access to: leave it empty.
  }
}

/**
 * Whether Chrome's title for the tab is a real one: a page without a <title> is shown by its
 * address (without the scheme), which is no title to save.
 * @param {chrome.tabs.Tab} tab
 */
function hasOwnTitle(tab) {
  const title = (tab.title ?? "").trim();
  const url = tab.url ?? "";
  return title !== "" && title !== url && title !== url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "");
}

/**
 * Fills what the tab lacks from what the server read of the page (GET /api/bookmarks/check): the
 * title when the tab had none, the description when the page gave none; never a field the person
 * typed in, nor while updating a saved bookmark.
 * @param {import("./lib/api.js").PageMetadata | null} metadata
 */
function fillFromPage(metadata) {
  if (!metadata || state.existing) return;
  if (metadata.title && !state.titled && !typed.has(titleInput)) titleInput.value = metadata.title.slice(0, TITLE_CHARS_MAX);
  if (metadata.description && descriptionInput.value === "" && !typed.has(descriptionInput)) descriptionInput.value = metadata.description.slice(0, DESCRIPTION_CHARS_MAX);
}

/**
 * From now on Save updates `bookmark`, the person's own bookmark of this URL; says so.
 * @param {import("./lib/api.js").Bookmark} bookmark
 */
function updateInstead(bookmark) {
  state.existing = bookmark;
  const day = new Date(bookmark.inserted_at).toLocaleDateString(undefined, { dateStyle: "medium" });
  notice.textContent = `You already saved this page on ${day}. Saving updates your bookmark.`;
  notice.hidden = false;
  saveButton.textContent = "Update";
}

/** @param {import("./lib/api.js").Bookmark} bookmark */
function fillFromBookmark(bookmark) {
  titleInput.value = bookmark.title;
  urlInput.value = bookmark.url;
  descriptionInput.value = bookmark.description;
  notesInput.value = bookmark.notes ?? "";
  tagsInput.value = bookmark.tags.length > 0 ? `${bookmark.tags.join(", ")}, ` : "";
  publicInput.checked = bookmark.public;
  showVisibility();
}

/** @returns {import("./lib/api.js").BookmarkFields} */
function formFields() {
  return {
    title: titleInput.value.trim(),
    url: urlInput.value.trim(),
    description: descriptionInput.value.trim(),
    // Not trimmed at the start: leading indentation is a code block in Markdown. The server drops blank lines and trailing space.
    notes: notesInput.value,
    tags: tagsForApi(tagsInput.value),
    public: publicInput.checked,
  };
}

/**
 * Creates the bookmark, or updates the one already saved. A 409 (saved meanwhile, elsewhere)
 * switches to updating that one, keeping what the person typed, and says so.
 */
async function save() {
  const settings = state.settings;
  if (!settings || state.saving || state.saved || saveButton.disabled) return;
  state.saving = true;
  saveButton.disabled = true;
  showStatus("Saving…", "");
  try {
    const existing = state.existing;
    if (existing) await updateBookmark(settings, existing.id, formFields());
    else await createBookmark(settings, formFields());
    state.saved = true;
    showStatus(existing ? "Bookmark updated!" : "Bookmark saved!", "ok");
    setTimeout(() => window.close(), CLOSE_AFTER_SAVE_MS);
  } catch (error) {
    showFailure(error);
    const body = error instanceof ApiError ? /** @type {{ id?: unknown } | null} */ (error.body) : null;
    if (error instanceof ApiError && error.status === 409 && typeof body?.id === "number") {
      await getBookmark(settings, body.id).then(updateInstead, () => {});
    }
  } finally {
    state.saving = false;
    if (!state.saved) saveButton.disabled = false;
  }
}

/**
 * Tag suggestions from GET /api/tags?q=<prefix> for the tag being typed; answers that arrive
 * after a newer keystroke are dropped.
 */
function tagSuggester() {
  let asked = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let selected = -1;

  const close = () => {
    suggestionList.hidden = true;
    suggestionList.replaceChildren();
    tagsInput.setAttribute("aria-expanded", "false");
    tagsInput.removeAttribute("aria-activedescendant");
    selected = -1;
  };

  /** @param {string} tag */
  const choose = (tag) => {
    tagsInput.value = completeTag(tagsInput.value, tag);
    close();
    tagsInput.focus();
  };

  /** @param {number} index */
  const highlight = (index) => {
    const items = [...suggestionList.children];
    selected = items.length === 0 ? -1 : (index + items.length) % items.length;
    items.forEach((item, position) => item.setAttribute("aria-selected", String(position === selected)));
    if (selected >= 0) tagsInput.setAttribute("aria-activedescendant", items[selected]?.id ?? "");
  };

  /** @param {{ tag: string, count: number }[]} tags */
  const show = (tags) => {
    const taken = new Set(enteredTags(tagsInput.value));
    const items = tags.filter((entry) => !taken.has(entry.tag)).map((entry, index) => {
      const item = document.createElement("li");
      item.id = `suggestion-${index}`;
      item.setAttribute("role", "option");
      item.dataset.tag = entry.tag;
      const name = document.createElement("span");
      name.textContent = entry.tag;
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = String(entry.count);
      item.append(name, count);
      // mousedown, not click: keep the focus in the field.
      item.addEventListener("mousedown", (event) => {
        event.preventDefault();
        choose(entry.tag);
      });
      return item;
    });
    if (items.length === 0) return close();
    suggestionList.replaceChildren(...items);
    suggestionList.hidden = false;
    tagsInput.setAttribute("aria-expanded", "true");
    selected = -1;
  };

  const ask = async () => {
    const settings = state.settings;
    const prefix = currentFragment(tagsInput.value);
    const ticket = ++asked;
    if (!settings || prefix === "") return close();
    try {
      const tags = await suggestTags(settings, prefix);
      if (ticket === asked) show(tags);
    } catch {
      if (ticket === asked) close();
    }
  };

  tagsInput.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(ask, SUGGEST_DELAY_MS);
  });
  tagsInput.addEventListener("blur", close);
  tagsInput.addEventListener("keydown", (event) => {
    if (suggestionList.hidden || event.ctrlKey || event.metaKey) return;
    const chosen = selected >= 0 ? /** @type {HTMLElement | undefined} */ (suggestionList.children[selected])?.dataset.tag : undefined;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      highlight(selected + (event.key === "ArrowDown" ? 1 : -1));
    } else if ((event.key === "Enter" || event.key === "Tab") && chosen) {
      event.preventDefault();
      choose(chosen);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
}

/**
 * Says whose token it is, then asks the server about the URL (GET /api/bookmarks/check): when it
 * is already one of theirs, switches to updating it; otherwise fills what the tab lacks.
 */
async function lookUpSaved() {
  const settings = state.settings;
  if (!settings) return;
  try {
    const username = await whoAmI(settings);
    who.textContent = `as ${username}`;
    const url = urlInput.value.trim();
    const check = url === "" ? null : await checkUrl(settings, url);
    if (!check || state.saved) return;
    if (check.saved) {
      updateInstead(check.saved);
      fillFromBookmark(check.saved);
    } else {
      fillFromPage(check.metadata);
    }
  } catch (error) {
    showFailure(error);
  }
}

async function start() {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void save();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      void save();
    }
  });
  publicInput.addEventListener("change", showVisibility);
  for (const field of [titleInput, descriptionInput]) field.addEventListener("input", () => typed.add(field));
  element("open-options").addEventListener("click", () => chrome.runtime.openOptionsPage());
  tagSuggester();

  const settings = await loadSettings();
  state.settings = settings;
  publicInput.checked = settings.publicByDefault;
  showVisibility();
  const tab = await currentTab();
  if (tab) {
    state.titled = hasOwnTitle(tab);
    titleInput.value = (tab.title ?? "").slice(0, TITLE_CHARS_MAX);
    urlInput.value = tab.url ?? "";
    if (tab.id !== undefined) void prefillDescription(tab.id);
  }
  tagsInput.focus();
  if (settings.token === "") return showSetup("Set your Nasty server and API token first.");
  if (!(await hasServerAccess(settings.serverUrl))) return showSetup(`Nasty Bookmarker may not talk to ${settings.serverUrl} yet: allow it in the options.`);
  await lookUpSaved();
}

// The form is aria-busy until the popup knows what it is saving: the tab, and whether it is yours already.
start().finally(() => form.removeAttribute("aria-busy"));
