// Test support: events written straight into a data directory's SQLite log, as an older Nasty (or a bug) might have left them.
import path from "node:path";
import Database from "better-sqlite3";

/** Appends events after the log's last one (the server must be stopped); payloads are JSON-encoded as the log stores them. */
export function appendRawEvents(dataDir: string, events: readonly (readonly [type: string, payload: object])[]): void {
  const db = new Database(path.join(dataDir, "events.sqlite3"));
  try {
    const { seq, ts } = db.prepare("SELECT max(seq) AS seq, max(ts) AS ts FROM events").get() as { seq: number; ts: number };
    const insert = db.prepare("INSERT INTO events (seq, type, v, ts, node, payload) VALUES (?, ?, 1, ?, 1, ?)");
    db.transaction(() => events.forEach(([type, payload], index) => insert.run(seq + 1 + index, type, ts + 1 + index, JSON.stringify(payload))))();
  } finally {
    db.close();
  }
}
