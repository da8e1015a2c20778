// The fuzz test: a few thousand generated requests, malformed bytes and websocket frames against a real server process.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { FuzzFailure, httpProblem, runFuzz, socketProblem, summarize } from "./support/fuzz.ts";
import { rawHttp } from "./support/fuzz-client.ts";

/** Enough to reach every route and frame kind several times; `npm run fuzz -- --cases N` runs long. */
const CASES = 2500;

test(`fuzz: ${CASES} generated cases — no 5xx, nothing unanswered, the process alive, memory bounded`, async () => {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;
  console.log(`fuzz seed ${seed} (rerun: FUZZ_SEED=${seed}, or npm run fuzz -- --seed ${seed} --cases ${CASES})`);
  try {
    const report = await runFuzz({ seed, cases: CASES });
    console.log(summarize(report));
    const outcomes = [...report.counts.keys()].map((key) => key.split("\t"));
    const total = [...report.counts.values()].reduce((sum, count) => sum + count, 0);
    assert.equal(total, CASES, "every case ran and was counted");
    for (const endpoint of ["/ws", "/socket/websocket", "/live", "malformed"]) assert.ok(outcomes.some(([target]) => target === endpoint), `${endpoint} was fuzzed`);
    assert.ok(outcomes.some(([, , outcome]) => outcome === "200") && outcomes.some(([, , outcome]) => outcome === "201"), "some cases got through to a handler that read and wrote (positive control)");
    assert.ok(outcomes.some(([, , outcome]) => /^4\d\d$/.test(outcome ?? "")), "some cases were refused with a 4xx");
  } catch (error) {
    if (error instanceof FuzzFailure) console.error(error.message);
    throw error;
  }
});

test("the fuzzer's checks catch a 5xx, a request left unanswered, a close without an answer and a body after HEAD", async () => {
  const replies: Record<string, string | null> = {
    "/500": "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\nno",
    "/silent": null,
    "/close": "",
    "/head-body": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "/fine": "HTTP/1.1 204 No Content\r\n\r\n",
  };
  const server = net.createServer((socket) => {
    socket.once("data", (data) => {
      const reply = replies[/^\w+ (\S+)/.exec(data.toString("latin1"))![1]!];
      if (reply === "") socket.destroy();
      else if (reply) socket.write(reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const check = async (path: string, method = "GET") => {
    const fuzzCase = { type: "http", target: path, kind: "check", head: method === "HEAD", strict: true, parts: [Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)] } as const;
    return httpProblem({ ...fuzzCase, parts: [...fuzzCase.parts] }, await rawHttp(port, fuzzCase.parts, { head: fuzzCase.head, timeoutMs: 500 }));
  };
  try {
    assert.match((await check("/500")) ?? "", /answered 500/);
    assert.match((await check("/silent")) ?? "", /no answer within the deadline/);
    assert.match((await check("/close")) ?? "", /closed the connection without a response/);
    assert.match((await check("/head-body", "HEAD")) ?? "", /5 bytes followed the response to HEAD/);
    assert.equal(await check("/fine"), null, "a good answer is no problem (positive control)");
  } finally {
    server.close();
  }
  assert.match(socketProblem({ kind: "closed", code: 1011, frames: 0 }) ?? "", /1011/);
  assert.match(socketProblem({ kind: "timeout", frames: 2 }) ?? "", /neither answered nor closed/);
  assert.equal(socketProblem({ kind: "closed", code: 4400, frames: 1 }), null);
});
