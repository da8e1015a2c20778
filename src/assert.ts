// Invariant checks: a failed assertion is a bug in Nasty, never bad input, and crashes loudly.
export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
