// API and session tokens: random secrets handed out once and stored only as SHA-256 hashes.
import { createHash, randomBytes } from "node:crypto";

export function newTokenSecret(prefix: "nasty" | "session" | "invite" = "nasty"): string {
  return `${prefix}_${randomBytes(32).toString("base64url")}`;
}

export function hashToken(secret: string): string {
  return createHash("sha256").update(secret).digest("base64url");
}

/** The token in `Authorization: Bearer <t>` or `Token <t>` (linkding style), or null. */
export function tokenFromAuthorization(header: string): string | null {
  const match = /^(?:Bearer|Token)\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}
