// HttpError: the one operating-error type; http/ and realtime/ turn it into an answer in one place each.
export type FieldErrors = Record<string, string[]>;

export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    message: string,
    /** Extra JSON members of the answer, e.g. `errors` for 422 or `id` for 409. */
    readonly extra: Record<string, unknown> = {},
    /** Extra response headers, e.g. Retry-After for 429. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function invalid(errors: FieldErrors): HttpError {
  const summary = Object.entries(errors)
    .map(([field, messages]) => `${field} ${messages.join(", ")}`)
    .join("; ");
  return new HttpError(422, `invalid fields: ${summary}`, { errors });
}
