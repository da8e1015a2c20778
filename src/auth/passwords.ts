// Password hashing with scrypt on libuv's thread pool (never the event loop), each hash carrying its own parameters.
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { HttpError } from "../errors.ts";
import { SETTINGS } from "../config.ts";

/** scrypt's block size and parallelism, OWASP's r=8, p=1; the cost N = 2^NASTY_PASSWORD_COST_LOG2 (2^17 by default). */
export const SCRYPT_BLOCK_SIZE = 8;
export const SCRYPT_PARALLELISM = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

/**
 * What a stored hash may ask for when it is verified: the settings' range of N, r up to 32, p up
 * to 16. A hash beyond them (a damaged log) fails to verify instead of asking for gigabytes.
 */
const COST_LOG2_RANGE = SETTINGS.passwordCostLog2.type;
const BLOCK_SIZE_MAX = 32;
const PARALLELISM_MAX = 16;

/**
 * Hashes computed at once, process-wide (each holds 128·N·r bytes while it runs: 128 MiB at
 * N=2^17), so password checks never take every thread of libuv's pool from file and DNS work.
 * More wait in line, at most HASHES_WAITING_MAX; past that a check answers 503 at once.
 */
export const HASHES_RUNNING_MAX = 2;
export const HASHES_WAITING_MAX = 64;

let running = 0;
const waiting: (() => void)[] = [];

/** Waits for a turn to hash; the caller must call `release` when done (it hands the turn on). */
async function turn(): Promise<void> {
  if (running < HASHES_RUNNING_MAX) {
    running += 1;
    return;
  }
  if (waiting.length >= HASHES_WAITING_MAX) throw new HttpError(503, "too many passwords are being checked right now; retry in a moment", {}, { "Retry-After": "1" });
  await new Promise<void>((resolve) => waiting.push(resolve));
}

function release(): void {
  const next = waiting.shift();
  if (next) next();
  else running -= 1;
}

/** The parameters of a hash as stored: `scrypt$N$r$p$salt$key`, salt and key in base64url. */
export interface ScryptHash {
  cost: number;
  blockSize: number;
  parallelism: number;
  salt: Buffer;
  key: Buffer;
}

/** A stored hash's parts, or null when it is not one this module could have written (or verify safely). */
export function parseHash(stored: string): ScryptHash | null {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return null;
  const [cost, blockSize, parallelism] = parts.slice(1, 4).map((part) => (/^\d{1,8}$/.test(part!) ? Number(part) : NaN)) as [number, number, number];
  const salt = Buffer.from(parts[4]!, "base64url");
  const key = Buffer.from(parts[5]!, "base64url");
  const log2 = Math.log2(cost);
  if (!Number.isInteger(log2) || log2 < COST_LOG2_RANGE.min || log2 > COST_LOG2_RANGE.max) return null;
  if (!(blockSize >= 1 && blockSize <= BLOCK_SIZE_MAX && parallelism >= 1 && parallelism <= PARALLELISM_MAX)) return null;
  if (salt.length < 8 || key.length < 16 || key.length > 64) return null;
  return { cost, blockSize, parallelism, salt, key };
}

/** What scrypt allocates (OpenSSL's V and B arrays), the least `maxmem` it needs. */
export function scryptMemoryBytes(cost: number, blockSize: number, parallelism: number): number {
  return 128 * blockSize * (cost + parallelism + 2);
}

/** One scrypt derivation in its turn, on libuv's pool (async crypto.scrypt never blocks the event loop). */
async function derive(password: string, salt: Buffer, cost: number, blockSize: number, parallelism: number, keyBytes: number): Promise<Buffer> {
  await turn();
  try {
    return await new Promise((resolve, reject) => {
      const maxmem = scryptMemoryBytes(cost, blockSize, parallelism) + 1024 * 1024;
      scrypt(password, salt, keyBytes, { N: cost, r: blockSize, p: parallelism, maxmem }, (error, key) => (error ? reject(error) : resolve(key)));
    });
  } finally {
    release();
  }
}

/** A new hash at N = 2^costLog2, r = 8, p = 1: `scrypt$N$8$1$salt$key`. */
export async function hashPassword(password: string, costLog2: number): Promise<string> {
  const cost = 2 ** costLog2;
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, cost, SCRYPT_BLOCK_SIZE, SCRYPT_PARALLELISM, KEY_BYTES);
  return ["scrypt", cost, SCRYPT_BLOCK_SIZE, SCRYPT_PARALLELISM, salt.toString("base64url"), key.toString("base64url")].join("$");
}

/** Checks a password against a stored hash with the hash's own parameters (older, cheaper ones too), in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const hash = parseHash(stored);
  if (!hash) return false;
  const actual = await derive(password, hash.salt, hash.cost, hash.blockSize, hash.parallelism, hash.key.length);
  return timingSafeEqual(actual, hash.key);
}

/** Whether a stored hash is weaker than new ones at 2^costLog2 (and should be replaced at the next log-in). */
export function needsRehash(stored: string, costLog2: number): boolean {
  const hash = parseHash(stored);
  if (!hash) return false;
  return hash.cost < 2 ** costLog2 || hash.blockSize < SCRYPT_BLOCK_SIZE || hash.parallelism < SCRYPT_PARALLELISM || hash.key.length < KEY_BYTES;
}

/**
 * A hash of a password nobody knows, at the current cost: checking an unknown username against
 * it costs what checking a real one does (no timing oracle). Made once per cost, ahead of the
 * first log-in (Commands asks for it when it starts); a failed attempt is not kept.
 */
const decoys = new Map<number, Promise<string>>();
export function decoyHash(costLog2: number): Promise<string> {
  let decoy = decoys.get(costLog2);
  if (!decoy) {
    decoy = hashPassword(randomBytes(24).toString("base64url"), costLog2);
    decoys.set(costLog2, decoy);
    decoy.catch(() => decoys.delete(costLog2));
  }
  return decoy;
}
