// The nasty CLI: every command with and without a running server (same output, same exit codes), its socket's permissions and garbage on it.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { request, startTestServer, tempDir } from "./support/server.ts";
import { runCli, startServerProcess, type CliRun } from "./support/cli.ts";

const BOOKMARK_FILE = `<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n<DT><A HREF="https://cli.example/one" TAGS="cli">One</A>\n<DT><A HREF="ftp://old.example/">Old</A>\n</DL><p>\n`;

/** A command's answer with what differs between two runs (secrets, folders, sizes) replaced by placeholders. */
function transcript(run: CliRun, dataDir: string, workDir: string): string {
  const text = `exit ${run.status}\n${run.stdout}--- stderr\n${run.stderr}`;
  return text
    .replaceAll(dataDir, "DATA")
    .replaceAll(workDir, "WORK")
    .replace(/(nasty|session)_[\w-]+/g, "TOKEN")
    .replace(/password: \S+/g, "password: PASSWORD")
    .replace(/\d+ bytes/g, "N bytes");
}

interface Scenario {
  lines: string[];
  aliceToken: string;
  lastToken: string;
}

/** Runs every command once, in an order that touches each success and refusal; the effects are checked by the caller. */
async function scenario(dataDir: string): Promise<Scenario> {
  const workDir = tempDir("nasty-cli-work-");
  fs.writeFileSync(path.join(workDir, "bookmarks.html"), BOOKMARK_FILE);
  const lines: string[] = [];
  const run = async (args: string[], stdin?: string) => {
    const result = await runCli(dataDir, args, { stdin, cwd: workDir, env: { NASTY_SIGNUP: "closed" } });
    lines.push(`$ ${args.join(" ")}\n${transcript(result, dataDir, workDir)}`);
    return result;
  };
  const created = await run(["user", "add", "Alice"]);
  assert.equal(created.status, 0, created.stderr);
  const aliceToken = /token: (\S+)/.exec(created.stdout)![1]!;
  await run(["user", "add", "alice", "--password", "whatever1"]);
  await run(["user", "add", "no spaces allowed"]);
  await run(["user", "add", "bob", "--password", "bobs password"]);
  await run(["user", "add"]);
  await run(["user", "password", "alice"], "a new secret 1\n");
  await run(["user", "password", "alice"], "short\n");
  await run(["user", "password", "nobody"], "whatever it is\n");
  const issued = await run(["token", "add", "ALICE"]);
  await run(["token", "add", "nobody"]);
  await run(["import", "bookmarks.html", "--user", "alice", "--public"]);
  await run(["import", "bookmarks.html"]);
  await run(["import", "missing.html", "--user", "alice"]);
  await run(["backup", "copy.nasty"]);
  await run(["backup", "copy.nasty"]);
  await run(["backup", "copy.nasty", "--force"]);
  await run(["backup"]);
  await run(["frobnicate"]);
  return { lines, aliceToken, lastToken: /token: (\S+)/.exec(issued.stdout)![1]! };
}

async function checkEffects(url: string, result: Scenario): Promise<void> {
  for (const token of [result.aliceToken, result.lastToken]) {
    const me = await request(url, "GET", "/api/me", { token });
    assert.equal(me.status, 200);
    assert.equal(me.json.user.username, "alice");
  }
  assert.equal((await request(url, "POST", "/api/tokens", { body: { username: "alice", password: "a new secret 1" } })).status, 201, "the new password logs in");
  assert.equal((await request(url, "POST", "/api/tokens", { body: { username: "bob", password: "bobs password" } })).status, 201);
  const listed = await request(url, "GET", "/api/bookmarks?user=alice");
  assert.deepEqual(listed.json.data.map((bookmark: any) => bookmark.title), ["One"]);
}

test("every command answers the same with and without a running server, and its effects are the same", async () => {
  const alone = tempDir();
  const offline = await scenario(alone);
  const server = await startTestServer({ NASTY_DATA_DIR: alone, NASTY_SIGNUP: "closed" });
  try {
    await checkEffects(server.url, offline);
  } finally {
    await server.close();
  }

  const served = tempDir();
  const running = await startServerProcess(served, { NASTY_SIGNUP: "closed" });
  try {
    const online = await scenario(served);
    assert.deepEqual(online.lines, offline.lines, `the same commands give the same output and exit codes through the server; its log:\n${running.output()}`);
    await checkEffects(running.url, online);
  } finally {
    await running.stop();
  }

  const expected = offline.lines.join("\n");
  assert.match(expected, /\$ user add Alice\nexit 0\ncreated user alice\npassword: PASSWORD\ntoken: TOKEN\n/);
  assert.match(expected, /\$ user add alice --password whatever1\nexit 2\n--- stderr\nerror: username has already been taken/);
  assert.match(expected, /\$ user add no spaces allowed\nexit 2\n--- stderr\nerror: username must be 3–32 characters/);
  assert.match(expected, /\$ user password alice\nexit 0\npassword changed for alice\n/);
  assert.match(expected, /\$ user password alice\nexit 2\n--- stderr\nerror: password is too short \(at least 8 characters\)/);
  assert.match(expected, /\$ user password nobody\nexit 2\n--- stderr\nerror: no user named nobody/);
  assert.match(expected, /\$ token add nobody\nexit 2\n--- stderr\nerror: no user named nobody/);
  assert.match(expected, /\$ import bookmarks.html --user alice --public\nexit 0\nbookmarks.html:4: 'ftp:\/\/old.example\/' is not an http\(s\) URL; skipped\nimported 1 of 2 bookmarks for alice/);
  assert.match(expected, /\$ import missing.html --user alice\nexit 2\n--- stderr\nerror: cannot read missing.html: ENOENT/);
  assert.match(expected, /\$ backup copy.nasty\nexit 0\nbackup written to WORK\/copy.nasty: 1 files, N bytes, up to seq 8\n/);
  assert.match(expected, /\$ backup copy.nasty\nexit 2\n--- stderr\nerror: WORK\/copy.nasty already exists; choose another name or add --force/);
  assert.match(expected, /\$ backup copy.nasty --force\nexit 0\n/);
  assert.match(expected, /\$ frobnicate\nexit 2\n--- stderr\nunknown command 'frobnicate'/);
});

test("right after npm start, user add goes through the server, and restore refuses the directory it uses", async () => {
  const dataDir = tempDir();
  const running = await startServerProcess(dataDir);
  try {
    const added = await runCli(dataDir, ["user", "add", "alice"]);
    assert.equal(added.status, 0, added.stderr);
    const token = /token: (\S+)/.exec(added.stdout)![1]!;
    assert.equal((await request(running.url, "GET", "/api/me", { token })).status, 200, "the running server knows the new user at once");
    const restore = await runCli(dataDir, ["restore", "/nonexistent/backup"]);
    assert.equal(restore.status, 2);
    assert.match(restore.stderr, /^error: restore fills an empty data directory, and a running server is using this one/);
  } finally {
    await running.stop();
  }
  assert.equal(fs.existsSync(path.join(dataDir, "nasty.sock")), false, "the server removes its socket when it stops");
});

test("the socket is the owner's alone, a stale one is replaced, and garbage on it is answered without harm", async () => {
  const dataDir = tempDir();
  fs.chmodSync(dataDir, 0o755);
  fs.writeFileSync(path.join(dataDir, "nasty.sock"), "stale");
  const server = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    const socketFile = path.join(dataDir, "nasty.sock");
    const stat = fs.statSync(socketFile);
    assert.ok(stat.isSocket(), "the stale file was replaced by the socket");
    assert.equal(stat.mode & 0o777, 0o600);

    const exchange = (bytes: string | Buffer, endAfter = true) =>
      new Promise<string>((resolve, reject) => {
        const socket = net.createConnection(socketFile);
        let answer = "";
        socket.setEncoding("utf8");
        socket.on("data", (chunk: string) => (answer += chunk));
        socket.on("error", reject);
        socket.on("close", () => resolve(answer));
        socket.write(bytes);
        if (endAfter) socket.end();
      });
    const refused = (problem: RegExp) => (answer: string) => {
      const lines = answer.trim().split("\n").map((line) => JSON.parse(line));
      assert.equal(lines.length, 2, answer);
      assert.match(lines[0].err, problem);
      assert.deepEqual(lines[1], { exit: 2 });
    };
    refused(/^error: bad request: the request line is not JSON$/)(await exchange("garbage\n"));
    refused(/the request is not a JSON object/)(await exchange("[1,2]\n"));
    refused(/argv must be a list of 1 to 64 strings/)(await exchange(`${JSON.stringify({ argv: [1], cwd: "/", input: {} })}\n`));
    refused(/argv must be a list/)(await exchange(`${JSON.stringify({ argv: Array(65).fill("x"), cwd: "/", input: {} })}\n`));
    refused(/cwd must be an absolute path/)(await exchange(`${JSON.stringify({ argv: ["user", "add", "x"], cwd: "here", input: {} })}\n`));
    refused(/input must be an object of strings/)(await exchange(`${JSON.stringify({ argv: ["user", "add", "x"], cwd: "/", input: { password: 5 } })}\n`));
    refused(/longer than 65536 bytes/)(await exchange(Buffer.alloc(70 * 1024, 0x61), false));
    refused(/^error: bad request: the request line is not JSON$/)(await exchange(Buffer.from([0xff, 0xfe, 0x00, 0x0a])));
    const unknown = (await exchange(`${JSON.stringify({ argv: ["drop", "everything"], cwd: "/", input: {} })}\n`)).trim().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(unknown, [{ err: "error: unknown command 'drop everything'" }, { exit: 2 }]);
    assert.equal(await exchange(""), "", "a client that sends nothing and leaves is simply let go");

    const created = (await exchange(`${JSON.stringify({ argv: ["user", "add", "carol", "--password", "carols password"], cwd: "/", input: {} })}\n`)).trim().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(created.slice(0, 1), [{ out: "created user carol" }]);
    assert.deepEqual(created.at(-1), { exit: 0 });
    assert.equal((await request(server.url, "GET", "/api/status")).status, 200, "the server still answers");
    assert.equal((await request(server.url, "POST", "/api/tokens", { body: { username: "carol", password: "carols password" } })).status, 201);
  } finally {
    await server.close();
  }
});
