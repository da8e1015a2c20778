// @ts-check
// Small helpers the popup and the options page share: their elements, their status line, an error's message.

/**
 * @param {string} id
 * @returns {any} the element; the pages are ours, so a missing one is a bug
 */
export function element(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`${location.pathname} has no #${id}`);
  return found;
}

/**
 * Shows `text` in the page's #status line, styled as a success, an error, or progress ("").
 * @param {string} text
 * @param {"ok" | "error" | ""} kind
 */
export function showStatus(text, kind) {
  const line = element("status");
  line.textContent = text;
  line.className = `status ${kind}`;
}

/** @param {unknown} error */
export function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}
