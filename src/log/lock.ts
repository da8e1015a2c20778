// One server per data directory: a pid lock file, taken over when its process is gone.
import fs from "node:fs";
import path from "node:path";

const heldHere = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
}

export const LOCK_FILE = "nasty.lock";

/** The pid of another live process holding `dataDir`'s lock, or null. */
export function lockHolder(dataDir: string): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, LOCK_FILE), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid) ? pid : null;
  } catch {
    return null;
  }
}

/** Takes the lock on `dataDir` or throws naming the process that holds it. Returns the release. */
export function lockDataDir(dataDir: string): () => void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  if (heldHere.has(file)) throw new DataDirLockedError(`${dataDir} is already in use by this process`);
  const pid = lockHolder(dataDir);
  if (pid !== null) throw new DataDirLockedError(`${dataDir} is in use by a running Nasty server (pid ${pid}); stop it first, or use its HTTP API`);
  fs.writeFileSync(file, String(process.pid));
  heldHere.add(file);
  return () => {
    heldHere.delete(file);
    try {
      fs.unlinkSync(file);
    } catch {
      // already gone
    }
  };
}

