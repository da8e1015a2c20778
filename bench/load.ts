// HTTP load figures: the same requests against Nasty and against the bare-uWS ceiling, alternating, in one run.
import { cpuSeconds } from "./children.ts";
import { httpLoad, type LoadClient, type LoadResult } from "./http-load.ts";
import { judge, type Figure, type Target } from "./report.ts";

export interface LoadPlan {
  client: LoadClient;
  seconds: number;
  warmupSeconds: number;
  rounds: number;
}

export interface LoadFigureSpec {
  id: string;
  name: string;
  method: "GET" | "POST";
  pathAndQuery: string;
  connections: number;
  target: Target | null;
  /** What the answer held (bytes, items), for the record. */
  answer?: Record<string, unknown>;
  nasty: { base: string; token: string; pid: number };
  ceiling: { base: string; pid: number };
}

/** A load run and the server CPU it cost: a steadier measure than wall time on a shared machine. */
interface Measured extends LoadResult {
  serverCpuMicrosPerRequest: number | null;
}

/** Answers that succeeded per second: wrk counts non-2xx answers as requests too. */
function successRate(result: LoadResult): number {
  return Math.max(0, result.requests - result.errors) / result.seconds;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

let runCounter = 0;

/**
 * Warms both servers up, then runs `rounds` rounds of ceiling-then-Nasty for `seconds` each and
 * takes the median of each side; the ratio is Nasty's successful requests/s over the ceiling's.
 */
export async function loadFigure(plan: LoadPlan, spec: LoadFigureSpec, say: (label: string) => void): Promise<Figure> {
  const run = async (side: "nasty" | "ceiling", seconds: number): Promise<Measured> => {
    runCounter += 1;
    const server = side === "nasty" ? spec.nasty : spec.ceiling;
    const cpuBefore = cpuSeconds(server.pid);
    const result = await httpLoad(plan.client, { url: server.base + spec.pathAndQuery, method: spec.method, seconds, connections: spec.connections, token: side === "nasty" ? spec.nasty.token : "", prefix: `${process.pid}r${runCounter}` });
    const cpuAfter = cpuSeconds(server.pid);
    const serverCpuMicrosPerRequest = cpuBefore !== null && cpuAfter !== null && result.requests > 0 ? ((cpuAfter - cpuBefore) * 1e6) / result.requests : null;
    return { ...result, serverCpuMicrosPerRequest };
  };
  if (plan.warmupSeconds > 0) {
    say(`${spec.name}: warming up`);
    await run("ceiling", plan.warmupSeconds);
    await run("nasty", plan.warmupSeconds);
  }
  const ceilings: Measured[] = [];
  const nasties: Measured[] = [];
  for (let round = 1; round <= plan.rounds; round += 1) {
    say(`${spec.name}: ceiling, round ${round}/${plan.rounds}`);
    ceilings.push(await run("ceiling", plan.seconds));
    say(`${spec.name}: nasty, round ${round}/${plan.rounds}`);
    nasties.push(await run("nasty", plan.seconds));
  }
  const value = median(nasties.map(successRate));
  const ceiling = median(ceilings.map(successRate));
  const errors = nasties.reduce((sum, result) => sum + result.errors, 0);
  const requests = nasties.reduce((sum, result) => sum + result.requests, 0);
  const cpu = (results: Measured[]) => {
    const known = results.flatMap((result) => (result.serverCpuMicrosPerRequest === null ? [] : [result.serverCpuMicrosPerRequest]));
    return known.length > 0 ? median(known) : null;
  };
  const nastyCpu = cpu(nasties);
  const ceilingCpu = cpu(ceilings);
  const notes = [
    nastyCpu !== null && ceilingCpu !== null ? `server CPU per request ${nastyCpu.toFixed(0)} µs vs ${ceilingCpu.toFixed(0)} µs bare` : null,
    errors > 0 ? `${errors} of ${requests} requests failed` : null,
  ].filter((note) => note !== null);
  return judge({
    id: spec.id,
    name: spec.name,
    unit: "req/s",
    value,
    ceiling,
    ceilingName: spec.method === "GET" ? "bare uWS, same bytes as a Buffer" : "bare uWS",
    ratio: ceiling > 0 ? value / ceiling : null,
    target: spec.target,
    note: notes.length > 0 ? notes.join("; ") : null,
    details: { answer: spec.answer ?? null, serverCpuMicrosPerRequest: { nasty: nastyCpu, ceiling: ceilingCpu }, client: plan.client, connections: spec.connections, seconds: plan.seconds, rounds: plan.rounds, nasty: nasties, ceiling: ceilings },
  });
}
