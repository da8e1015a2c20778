// The resume storm: N subscribers drop, E events are committed, all reconnect with ?since= at once; time until every one has caught up and server memory meanwhile, beside bare uWS delivering the same bytes.
import { Child } from "./children.ts";
import type { ResumeAnswer, ResumeRequest } from "./resume-client.ts";
import { judge, type Figure } from "./report.ts";

export interface ResumePlan {
  subscribers: number;
  events: number;
}

const ANSWER_SLACK_MS = 60_000;
const CONNECT_MS_PER_SUBSCRIBER = 20;

export interface ResumeSides {
  nasty: { port: number; pid: number; token: string };
  ceiling: { port: number; pid: number };
}

/** The servers' own CPU during the storm: the storm's time is also the client's, which reads every socket. */
function cpuNote(answer: ResumeAnswer): string | null {
  if (answer.nastyCpuMs === null || answer.ceilingCpuMs === null) return null;
  return `server CPU ${(answer.nastyCpuMs / 1000).toFixed(1)} s vs ${(answer.ceilingCpuMs / 1000).toFixed(1)} s bare`;
}

export async function resumeFigures(plan: ResumePlan, sides: ResumeSides, say: (label: string) => void): Promise<Figure[]> {
  say(`resume storm: ${plan.subscribers.toLocaleString("en")} subscribers resume after ${plan.events.toLocaleString("en")} events`);
  const child = new Child("bench/resume-client.ts", [], { label: "resume client", ipc: true, raiseOpenFiles: true });
  try {
    const timeoutMs = ANSWER_SLACK_MS + plan.subscribers * CONNECT_MS_PER_SUBSCRIBER;
    const request: ResumeRequest = { nastyPort: sides.nasty.port, nastyPid: sides.nasty.pid, token: sides.nasty.token, ceilingPort: sides.ceiling.port, ceilingPid: sides.ceiling.pid, subscribers: plan.subscribers, events: plan.events, timeoutMs };
    const answer = await child.request<ResumeAnswer | { error: string }>(request, timeoutMs * 3);
    if ("error" in answer) throw new Error(answer.error);
    const details = { ...plan, ...answer };
    const label = `${plan.subscribers.toLocaleString("en")} subscribers, ${plan.events.toLocaleString("en")} events`;
    return [
      judge({
        id: "resume-storm", name: `resume storm: all caught up, ${label}`, unit: "ms", value: answer.nastyMs, ceiling: answer.ceilingMs, ceilingName: "bare uWS sending the same bytes",
        ratio: answer.ceilingMs / answer.nastyMs, target: null, details,
        note: [cpuNote(answer), answer.resyncs > 0 ? `${answer.resyncs} subscribers were told to resync instead` : null].filter(Boolean).join("; ") || null,
      }),
      judge({
        id: "resume-storm-rss", name: `resume storm: server RSS peak, ${label}`, unit: "MiB", value: answer.peakRssBytes / 2 ** 20, ceiling: null, ceilingName: null, ratio: null, target: null,
        note: `${(answer.baselineRssBytes / 2 ** 20).toFixed(0)} MiB before the storm`, details,
      }),
    ];
  } finally {
    await child.stop();
  }
}
