// Passwords: scrypt at N=2^17, r=8, p=1 by default, off the event loop, old hashes upgraded at log-in; per-address limits on every password path.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import { scryptSync } from "node:crypto";
import Database from "better-sqlite3";
import { loadConfig, SETTINGS } from "../src/config.ts";
import { startNasty, type Nasty } from "../src/main.ts";
import { HASHES_RUNNING_MAX, HASHES_WAITING_MAX, hashPassword, parseHash, scryptMemoryBytes, verifyPassword } from "../src/auth/passwords.ts";
import { HttpError } from "../src/errors.ts";
import { addressKey, clientAddress } from "../src/auth/password-attempts.ts";
import { request, startTestServer, tempDir } from "./support/server.ts";
import { csrfOf } from "./support/pages.ts";

/** Event-loop turns taken while `work` runs: many when it runs elsewhere, about none when it blocks the loop. */
async function turnsDuring(work: Promise<unknown>): Promise<number> {
  let done = false;
  void work.finally(() => (done = true));
  let turns = 0;
  while (!done) {
    await new Promise((resolve) => setImmediate(resolve));
    turns += 1;
  }
  await work;
  return turns;
}

describe("password hashes", { timeout: 120_000 }, () => {
  const servers: Nasty[] = [];
  after(async () => {
    for (const server of servers) await server.close();
  });

  /** A server on the settings' own defaults for passwords (not the suite's cheap ones). */
  const startDefault = async (dataDir: string, env: Record<string, string> = {}) => {
    const server = await startNasty(loadConfig({ PORT: "0", HOST: "127.0.0.1", NASTY_DATA_DIR: dataDir, NASTY_RATE_LIMIT: "0", ...env }), { quiet: true });
    servers.push(server);
    return server;
  };

  test("by default a new hash is scrypt with N=2^17, r=8, p=1, which the stored key proves", async () => {
    assert.equal(loadConfig({}).passwordCostLog2, 17);
    assert.equal(SETTINGS.passwordCostLog2.default, "17");
    const server = await startDefault(tempDir());
    const reply = await request(server.url, "POST", "/api/users", { body: { user: { username: "strong", password: "correct horse" } } });
    assert.equal(reply.status, 201, reply.text);
    const stored = server.store.userByName("strong")!.passwordHash;
    assert.match(stored, /^scrypt\$131072\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    const hash = parseHash(stored)!;
    const recomputed = scryptSync("correct horse", hash.salt, 32, { N: 2 ** 17, r: 8, p: 1, maxmem: scryptMemoryBytes(2 ** 17, 8, 1) + 1024 * 1024 });
    assert.deepEqual(recomputed, hash.key, "the key is scrypt's at exactly these parameters");
    assert.notDeepEqual(scryptSync("correct horse", hash.salt, 32, { N: 2 ** 14, r: 8, p: 1 }), hash.key, "and not at today's old cost (positive control)");
    assert.equal((await request(server.url, "POST", "/api/tokens", { body: { username: "strong", password: "correct horse" } })).status, 201);
  });

  test("hashing and verifying run off the event loop, which keeps turning meanwhile", async () => {
    const turnsHashing = await turnsDuring(hashPassword("correct horse", 17));
    assert.ok(turnsHashing > 20, `the loop turned ${turnsHashing} times during a hash at N=2^17`);
    const stored = await hashPassword("correct horse", 17);
    let valid: boolean | null = null;
    const turnsVerifying = await turnsDuring(verifyPassword("correct horse", stored).then((result) => (valid = result)));
    assert.equal(valid, true);
    assert.ok(turnsVerifying > 20, `the loop turned ${turnsVerifying} times during a verification`);
    assert.equal(await verifyPassword("wrong horse", stored), false);
    const blocking = await turnsDuring(Promise.resolve().then(() => scryptSync("x", "salt", 32, { N: 2 ** 17, r: 8, p: 1, maxmem: 256 * 1024 * 1024 })));
    assert.ok(blocking <= 2, `a blocking hash lets the loop turn ${blocking} times (the measure's positive control)`);
  });

  test(`at most ${HASHES_RUNNING_MAX} hashes run and ${HASHES_WAITING_MAX} wait; past that, 503 with Retry-After at once`, async () => {
    const extra = 3;
    const results = await Promise.allSettled(Array.from({ length: HASHES_RUNNING_MAX + HASHES_WAITING_MAX + extra }, () => hashPassword("pw", 12)));
    const refused = results.filter((result) => result.status === "rejected");
    assert.ok(refused.length >= extra, `${refused.length} refused`);
    for (const result of refused) {
      const error = (result as PromiseRejectedResult).reason;
      assert.ok(error instanceof HttpError && error.status === 503 && error.headers["Retry-After"] === "1", String(error));
    }
    assert.ok(results.length - refused.length >= HASHES_WAITING_MAX, "those in line were all hashed");
    assert.equal(await verifyPassword("pw", await hashPassword("pw", 12)), true, "the line drained");
  });

  test("a stored hash outside the accepted parameters fails to verify instead of allocating", async () => {
    const good = await hashPassword("pw", 10);
    assert.equal(await verifyPassword("pw", good), true);
    for (const bad of [good.replace("$1024$", "$1073741824$"), good.replace("$1024$", "$1000$"), good.replace("$8$1$", "$8$99$"), "bcrypt$x", "", good.replace(/\$[^$]+$/, "$")]) {
      assert.equal(parseHash(bad), null, bad);
      assert.equal(await verifyPassword("pw", bad), false, bad);
    }
  });

  test("an old N=2^14 hash still verifies and is replaced at the next log-in, through a durable event, before the answer", async () => {
    const dataDir = tempDir();
    const old = await startDefault(dataDir, { NASTY_PASSWORD_COST_LOG2: "14" });
    assert.equal((await request(old.url, "POST", "/api/users", { body: { user: { username: "veteran", password: "old secret" } } })).status, 201);
    assert.match(old.store.userByName("veteran")!.passwordHash, /^scrypt\$16384\$8\$1\$/);
    await old.close();

    const upgraded = await startDefault(dataDir);
    const eventsOf = () => {
      const reader = new Database(path.join(dataDir, "events.sqlite3"), { readonly: true });
      try {
        return reader.prepare("SELECT type FROM events WHERE type = 'user.password_changed'").all().length;
      } finally {
        reader.close();
      }
    };
    assert.equal((await request(upgraded.url, "POST", "/api/tokens", { body: { username: "veteran", password: "wrong" } })).status, 401);
    assert.match(upgraded.store.userByName("veteran")!.passwordHash, /^scrypt\$16384\$/, "a failed log-in changes nothing");
    assert.equal(eventsOf(), 0);
    const reply = await request(upgraded.url, "POST", "/api/tokens", { body: { username: "veteran", password: "old secret" } });
    assert.equal(reply.status, 201, "the old hash verifies");
    assert.match(upgraded.store.userByName("veteran")!.passwordHash, /^scrypt\$131072\$8\$1\$/, "applied, so committed, before the answer");
    assert.equal(eventsOf(), 1, "one user.password_changed in the log");
    assert.equal((await request(upgraded.url, "POST", "/api/tokens", { body: { username: "veteran", password: "old secret" } })).status, 201);
    assert.equal(eventsOf(), 1, "a current hash is not replaced again");
    await upgraded.close();

    const again = await startDefault(dataDir);
    assert.match(again.store.userByName("veteran")!.passwordHash, /^scrypt\$131072\$/, "the new hash is what replay gives");
    assert.equal((await request(again.url, "POST", "/api/tokens", { body: { username: "veteran", password: "old secret" } })).status, 201);
    assert.equal((await request(again.url, "POST", "/api/tokens", { body: { username: "veteran", password: "wrong" } })).status, 401);
  });
});

interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** One HTTP request from a chosen local address (127.0.0.x are all loopback): another client, as far as the server can tell. */
function from(localAddress: string, base: string, method: string, pathname: string, options: { headers?: Record<string, string>; body?: string } = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(base + pathname, { method, localAddress, headers: options.headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString("utf8") }));
    });
    outgoing.on("error", reject);
    outgoing.end(options.body);
  });
}

/** Every path that takes a password, as one attempt from `address` (pages fetch their form first, for its CSRF cookie and token). */
const PASSWORD_PATHS: Record<string, (base: string, address: string, headers?: Record<string, string>) => Promise<RawReply>> = {
  "POST /api/tokens": (base, address, headers = {}) => from(address, base, "POST", "/api/tokens", { headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ username: "someone", password: "wrong password" }) }),
  "POST /api/users": (base, address, headers = {}) => from(address, base, "POST", "/api/users", { headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ user: { username: `new${Math.random().toString(36).slice(2, 10)}`, password: "long enough" } }) }),
  "POST /login": (base, address, headers = {}) => formPost(base, address, "/login", headers),
  "POST /signup": (base, address, headers = {}) => formPost(base, address, "/signup", headers),
  "Pinboard HTTP Basic": (base, address, headers = {}) => from(address, base, "GET", "/v1/posts/update?format=json", { headers: { authorization: `Basic ${Buffer.from("someone:wrong password").toString("base64")}`, ...headers } }),
};

async function formPost(base: string, address: string, pathname: string, headers: Record<string, string>): Promise<RawReply> {
  const form = await from(address, base, "GET", pathname, { headers });
  const cookie = (form.headers["set-cookie"] ?? []).map((line) => line.split(";")[0]).join("; ");
  const username = pathname === "/signup" ? `new${Math.random().toString(36).slice(2, 10)}` : "someone";
  const body = new URLSearchParams({ username, password: "long enough", _csrf: csrfOf(form.text) }).toString();
  return from(address, base, "POST", pathname, { headers: { cookie, "content-type": "application/x-www-form-urlencoded", ...headers }, body });
}

describe("per-address limits on every password path", { timeout: 120_000 }, () => {
  const LIMIT = 3;
  const servers: Nasty[] = [];
  after(async () => {
    for (const server of servers) await server.close();
  });
  const start = async (env: Record<string, string> = {}) => {
    const server = await startTestServer({ NASTY_PASSWORD_ATTEMPTS_PER_ADDRESS: String(LIMIT), ...env });
    servers.push(server);
    await server.commands.register({ username: "someone", password: "right password" }, "local");
    return server;
  };

  for (const [name, attempt] of Object.entries(PASSWORD_PATHS)) {
    test(`${name}: ${LIMIT} attempts per address, then 429 with Retry-After; another address still gets in`, async () => {
      const server = await start();
      for (let index = 1; index <= LIMIT; index += 1) assert.notEqual((await attempt(server.url, "127.0.0.1")).status, 429, `attempt ${index}`);
      const refused = await attempt(server.url, "127.0.0.1");
      assert.equal(refused.status, 429, refused.text);
      assert.match(String(refused.headers["retry-after"]), /^[1-9]\d*$/);
      assert.match(refused.text, /too many (log-in|sign-up) attempts from your address/);
      const other = await attempt(server.url, "127.0.0.2");
      assert.notEqual(other.status, 429, `another address is not limited: ${other.text.slice(0, 200)}`);
      assert.ok(other.status > 0 && other.status < 500, `answered ${other.status}`);
    });
  }

  test("every path shares one budget per address, and the per-username limit stays", async () => {
    const server = await start();
    const paths = Object.values(PASSWORD_PATHS);
    for (let index = 0; index < LIMIT; index += 1) assert.notEqual((await paths[index]!(server.url, "127.0.0.3")).status, 429);
    for (const attempt of paths) assert.equal((await attempt(server.url, "127.0.0.3")).status, 429);
    const roomy = await startTestServer({ NASTY_PASSWORD_ATTEMPTS_PER_ADDRESS: "1000" });
    servers.push(roomy);
    await roomy.commands.register({ username: "someone", password: "right password" }, "local");
    const statuses: number[] = [];
    for (let index = 0; index < 11; index += 1) statuses.push((await PASSWORD_PATHS["POST /api/tokens"]!(roomy.url, `127.0.0.${10 + index}`)).status);
    assert.deepEqual(statuses, [...Array(10).fill(401), 429], "ten failures for one username, from any addresses");
  });

  test("X-Forwarded-For counts only with NASTY_TRUST_PROXY, and only its last hop", async () => {
    const direct = await start();
    for (let index = 0; index < LIMIT; index += 1) await PASSWORD_PATHS["POST /api/tokens"]!(direct.url, "127.0.0.1", { "x-forwarded-for": `203.0.113.${index}` });
    const ignored = await PASSWORD_PATHS["POST /api/tokens"]!(direct.url, "127.0.0.1", { "x-forwarded-for": "203.0.113.99" });
    assert.equal(ignored.status, 429, "without trust, a new X-Forwarded-For is the same peer");

    const proxied = await start({ NASTY_TRUST_PROXY: "true" });
    const attempt = (forwarded: string) => PASSWORD_PATHS["POST /login"]!(proxied.url, "127.0.0.1", { "x-forwarded-for": forwarded });
    for (let index = 0; index < LIMIT; index += 1) assert.equal((await attempt(`198.51.100.${index}, 203.0.113.7`)).status, 401, "forged first hops, one real last hop");
    assert.equal((await attempt("203.0.113.7")).status, 429, "the last hop is the address");
    assert.equal((await attempt("203.0.113.7, 203.0.113.8")).status, 401, "another client behind the proxy is not limited");
    assert.equal((await attempt("not an address")).status, 401, "a last hop that is no address counts as the proxy itself");
  });

  test("addresses: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64; the peer unless the proxy is trusted", () => {
    assert.equal(addressKey("192.0.2.7"), "192.0.2.7");
    assert.equal(addressKey("::ffff:192.0.2.7"), "192.0.2.7");
    assert.equal(addressKey("0000:0000:0000:0000:0000:ffff:c000:0207"), "192.0.2.7");
    assert.equal(addressKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
    assert.equal(addressKey("2001:db8:1:2::9"), "2001:db8:1:2::/64");
    assert.equal(addressKey("2001:db8::"), "2001:db8:0:0::/64");
    assert.equal(addressKey("::1"), "0:0:0:0::/64");
    assert.equal(addressKey("fe80::1%eth0"), "fe80:0:0:0::/64");
    const request = (forwarded: string) => ({ remoteAddress: "10.0.0.1", headers: { "x-forwarded-for": forwarded } });
    assert.equal(clientAddress(request("192.0.2.1"), false), "10.0.0.1");
    assert.equal(clientAddress(request("192.0.2.1, 192.0.2.2"), true), "192.0.2.2");
    assert.equal(clientAddress(request("192.0.2.1, [2001:db8::1]:443"), true), "2001:db8:0:0::/64");
    assert.equal(clientAddress(request("192.0.2.3:8080"), true), "192.0.2.3");
    assert.equal(clientAddress(request(""), true), "10.0.0.1");
    assert.equal(clientAddress(request("unknown"), true), "10.0.0.1");
    assert.throws(() => clientAddress({ remoteAddress: "", headers: { "x-forwarded-for": "" } }, true), /must read the peer's address/);
  });
});
