// Postgres migrations: the SQL files of migrations/, applied once each in name order, under an advisory lock.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Sql } from "postgres";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations/", import.meta.url));

/** Held for the migrating transaction, so nodes starting at once migrate one after the other. */
const MIGRATION_LOCK_KEY = 0x6e61737479; // "nasty"

const MIGRATION_FILE = /^\d{3,}_[a-z0-9_-]+\.sql$/;

export interface Migration {
  name: string;
  text: string;
  checksum: string;
}

export class MigrationError extends Error {
  override name = "MigrationError";
}

export function readMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((name) => MIGRATION_FILE.test(name))
    .sort()
    .map((name) => {
      const text = fs.readFileSync(path.join(dir, name), "utf8");
      return { name, text, checksum: crypto.createHash("sha256").update(text).digest("hex") };
    });
}

/**
 * Applies every migration not yet recorded in schema_migrations, all in one transaction holding
 * the advisory lock: either all of them apply or none does, and a second node waits, then finds
 * nothing left to do. A recorded migration whose file changed since is refused, since the
 * database no longer matches what the file says. Returns the names applied now.
 */
export async function migrate(sql: Sql, migrations: readonly Migration[] = readMigrations()): Promise<string[]> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY}::bigint)`;
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations (
      name text PRIMARY KEY,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`;
    const rows = await tx<{ name: string; checksum: string }[]>`SELECT name, checksum FROM schema_migrations`;
    const recorded = new Map(rows.map((row) => [row.name, row.checksum]));
    const applied: string[] = [];
    for (const migration of migrations) {
      const checksum = recorded.get(migration.name);
      if (checksum === migration.checksum) continue;
      if (checksum !== undefined) {
        throw new MigrationError(`migration ${migration.name} changed after it was applied; add a new migration instead of editing it`);
      }
      try {
        await tx.unsafe(migration.text);
      } catch (error) {
        throw new MigrationError(`migration ${migration.name} failed: ${(error as Error).message}`);
      }
      await tx`INSERT INTO schema_migrations (name, checksum) VALUES (${migration.name}, ${migration.checksum})`;
      applied.push(migration.name);
    }
    return applied;
  });
}
