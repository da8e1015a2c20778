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

/** Takes the lock on `dataDir` or throws naming the process that holds it. Returns the release. */
export function lockDataDir(dataDir: string): () => void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, "nasty.lock");
  if (heldHere.has(file)) throw new DataDirLockedError(`${dataDir} is already in use by this process`);
  try {
    const pid = Number(fs.readFileSync(file, "utf8").trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new DataDirLockedError(`${dataDir} is in use by a running Nasty server (pid ${pid}); stop it first, or use its HTTP API`);
    }
  } catch (error) {
    if (error instanceof DataDirLockedError) throw error;
  }
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

