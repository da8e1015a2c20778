// The moderation commands of the nasty CLI (user admin, user suspend|unsuspend, signup, invite) with and without a running server: same output, same effects.
import { test } from "node:test";
import assert from "node:assert/strict";
import { request, startTestServer, tempDir } from "./support/server.ts";
import { runCli, startServerProcess, type CliRun } from "./support/cli.ts";

const PUBLIC_URL = "https://links.example.org";

function transcript(run: CliRun): string {
  return `exit ${run.status}\n${run.stdout}--- stderr\n${run.stderr}`.replace(/(nasty|invite)_[\w-]+/g, "$1_SECRET").replace(/password: \S+/g, "password: PASSWORD");
}

/** Every moderation command once, with its refusals; returns the transcript and the last invitation code. */
async function scenario(dataDir: string): Promise<{ lines: string[]; invite: string }> {
  const lines: string[] = [];
  const run = async (args: string[]) => {
    const result = await runCli(dataDir, args, { env: { NASTY_SIGNUP: "open", NASTY_PUBLIC_URL: PUBLIC_URL } });
    lines.push(`$ ${args.join(" ")}\n${transcript(result)}`);
    return result;
  };
  assert.equal((await run(["user", "add", "root", "--password", "correct horse"])).status, 0);
  await run(["user", "add", "alice", "--password", "correct horse"]);
  await run(["user", "add", "bob", "--password", "correct horse"]);
  await run(["user", "admin", "alice"]);
  await run(["user", "admin", "alice"]);
  await run(["user", "admin", "nobody"]);
  await run(["user", "admin"]);
  await run(["user", "suspend", "bob"]);
  await run(["user", "suspend", "bob"]);
  await run(["user", "unsuspend", "bob"]);
  await run(["user", "unsuspend", "bob"]);
  await run(["user", "suspend", "bob"]);
  await run(["signup", "sometimes"]);
  await run(["signup"]);
  await run(["signup", "closed"]);
  await run(["invite"]);
  await run(["signup", "invite"]);
  await run(["signup", "invite"]);
  const invited = await run(["invite"]);
  const invite = /invite=(invite_[\w-]+)/.exec(invited.stdout)?.[1];
  assert.ok(invite, invited.stdout + invited.stderr);
  return { lines, invite };
}

/** What the commands did, seen through the API of a server on that directory. */
async function checkEffects(url: string, invite: string): Promise<void> {
  const logIn = (username: string) => request(url, "POST", "/api/tokens", { body: { username, password: "correct horse" } });
  const alice = (await logIn("alice")).json.token;
  assert.equal((await request(url, "GET", "/api/admin", { token: alice })).status, 200, "alice is an admin");
  const root = (await logIn("root")).json.token;
  assert.equal((await request(url, "GET", "/api/admin/users/root", { token: root })).json.user.role, "admin", "the first account is the admin");
  const bob = await logIn("bob");
  assert.equal(bob.status, 403);
  assert.match(bob.json.error, /suspended/);
  assert.deepEqual((await request(url, "GET", "/api/admin/signup", { token: alice })).json, { mode: "invite" });
  assert.equal((await request(url, "POST", "/api/users", { body: { user: { username: "carol", password: "correct horse" } } })).status, 403);
  assert.equal((await request(url, "POST", "/api/users", { body: { user: { username: "carol", password: "correct horse", invite } } })).status, 201, "the printed invitation works once");
  assert.equal((await request(url, "POST", "/api/users", { body: { user: { username: "dave", password: "correct horse", invite } } })).status, 403);
}

test("the moderation commands answer the same with and without a running server, with the same effects", { timeout: 300_000 }, async () => {
  const alone = tempDir();
  const offline = await scenario(alone);
  const server = await startTestServer({ NASTY_DATA_DIR: alone, NASTY_SIGNUP: "open" });
  try {
    await checkEffects(server.url, offline.invite);
  } finally {
    await server.close();
  }

  const served = tempDir();
  const running = await startServerProcess(served, { NASTY_SIGNUP: "open", NASTY_PUBLIC_URL: PUBLIC_URL });
  try {
    const online = await scenario(served);
    assert.deepEqual(online.lines, offline.lines, `the same commands give the same output and exit codes through the server; its log:\n${running.output()}`);
    await checkEffects(running.url, online.invite);
  } finally {
    await running.stop();
  }

  const expected = offline.lines.join("\n");
  assert.match(expected, /\$ user admin alice\nexit 0\nalice is an admin\n/);
  assert.match(expected, /\$ user admin alice\nexit 2\n--- stderr\nerror: alice is already an admin\n/);
  assert.match(expected, /\$ user admin nobody\nexit 2\n--- stderr\nerror: no user named nobody\n/);
  assert.match(expected, /\$ user admin\nexit 2\n--- stderr\nerror: user admin needs a NAME\n/);
  assert.match(expected, /\$ user suspend bob\nexit 0\nsuspended bob: they cannot log in, and what they wrote is hidden\n/);
  assert.match(expected, /\$ user suspend bob\nexit 2\n--- stderr\nerror: bob is already suspended\n/);
  assert.match(expected, /\$ user unsuspend bob\nexit 0\nbob is no longer suspended\n/);
  assert.match(expected, /\$ user unsuspend bob\nexit 2\n--- stderr\nerror: bob is not suspended\n/);
  assert.match(expected, /\$ signup sometimes\nexit 2\n--- stderr\nerror: mode must be one of open, closed, invite\n/);
  assert.match(expected, /\$ signup\nexit 2\n--- stderr\nerror: signup needs a mode: open, closed or invite\n/);
  assert.match(expected, /\$ signup closed\nexit 0\nsign-up is now closed \(was open\)\n/);
  assert.match(expected, /\$ invite\nexit 0\ninvitation \(single use\): https:\/\/links\.example\.org\/signup\?invite=invite_SECRET\nnote: sign-up is closed; the invitation counts only while it is invite/);
  assert.match(expected, /\$ signup invite\nexit 0\nsign-up is now invite \(was closed\)\n/);
  assert.match(expected, /\$ signup invite\nexit 0\nsign-up is already invite\n/);
});
