// Invariant checks: a failed assertion is a bug in Nasty, never bad input, and crashes loudly.
export class AssertionError extends Error {
  override name = "AssertionError";
}

/** `message` may be a function so hot paths (replay, apply) build no string unless the check fails. */
export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new AssertionError(typeof message === "string" ? message : message());
}
