import { monitorEventLoopDelay } from "node:perf_hooks";
import { startTestServer, signUp } from "../test/support/server.ts";
const server = await startTestServer({ NASTY_SNAPSHOT_EVERY: "1000000000" });
await signUp(server.url, "bulk");
const user = server.store.userByName("bulk")!;
for (let batch = 0; batch < 20; batch += 1) await server.commands.createBookmarks(user, Array.from({ length: 1000 }, (_, i) => ({ url: `https://bulk.example/${batch}/${i}`, title: `bulk ${batch} ${i}`, tags: ["bulk"] })));
for (let round = 0; round < 3; round++) {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let last = performance.now(); let worst = 0; let at = 0;
  const t0 = performance.now();
  const iv = setInterval(() => { const now = performance.now(); if (now - last > worst) { worst = now - last; at = now - t0; } last = now; }, 1);
  await server.commands.createBookmarks(user, [{ url: `https://x.example/${round}`, title: "x" }]);
  if (round === 1) await new Promise((r) => setTimeout(r, 2000)); else await server.snapshots.takeInBackground();
  clearInterval(iv);
  delay.disable();
  console.log(round, "max", (delay.max / 1e6).toFixed(1), "worst gap", worst.toFixed(1), "at", at.toFixed(0), "total", (performance.now() - t0).toFixed(0));
}
await server.close();
