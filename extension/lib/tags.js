// @ts-check
// The comma-separated tag field, as in the original app: which tag is being typed and how a suggestion completes it.

/**
 * The tag being typed: the text after the last comma, trimmed and lower-cased.
 * @param {string} value
 */
export function currentFragment(value) {
  return value.slice(value.lastIndexOf(",") + 1).trim().toLowerCase();
}

/**
 * The tags before the one being typed, trimmed, lower-cased, without empties.
 * @param {string} value
 * @returns {string[]}
 */
export function enteredTags(value) {
  return value.slice(0, Math.max(0, value.lastIndexOf(","))).split(",").map((tag) => tag.trim().toLowerCase()).filter((tag) => tag !== "");
}

/**
 * Replaces the tag being typed with `tag` and leaves the cursor after ", " for the next one.
 * @param {string} value
 * @param {string} tag
 */
export function completeTag(value, tag) {
  return [...enteredTags(value), tag].join(", ") + ", ";
}

/**
 * The field as the API's `tags` string: "a, b" without a trailing separator or empties.
 * @param {string} value
 */
export function tagsForApi(value) {
  return value.split(",").map((tag) => tag.trim()).filter((tag) => tag !== "").join(", ");
}
