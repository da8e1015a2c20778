// Health, readiness and metrics: /healthz (the process answers), /readyz (it can serve and commit), /metrics (Prometheus, behind a token).
import type { TemplatedApp, us_listen_socket } from "uWebSockets.js";
import { ConfigError, type Config } from "../config.ts";
import { HttpError } from "../errors.ts";
import { METRICS_CONTENT_TYPE, metricsAuthorized, metricsText } from "../metrics.ts";
import { statusLine } from "./respond.ts";
import { route, type Context, type RouterDeps } from "./router.ts";
import type { Answer } from "./respond.ts";
import { listenExclusive, type LoadedUws } from "./uws.ts";

/** Why the server is not ready (replaying, indexing, the log not committing), or null when it is. */
export type Readiness = () => string | null;

export interface HealthDeps extends RouterDeps {
  config: RouterDeps["config"] & Pick<Config, "metricsToken">;
  readiness: Readiness;
}

const TEXT_TYPE = "text/plain; charset=utf-8";

/** GET and HEAD only (a HEAD answer has the status and headers, no body). */
function probe(context: Context, answer: () => Answer): Answer {
  if (context.method !== "get" && context.method !== "head") throw new HttpError(405, `${context.path} answers GET and HEAD only`, {}, { Allow: "GET, HEAD" });
  const full = answer();
  return context.method === "head" ? { ...full, body: "" } : full;
}

/** The answer of /readyz for a readiness reason (null: ready). */
function readyAnswer(reason: string | null): Answer {
  return reason === null ? { status: 200, body: "ready\n", contentType: TEXT_TYPE } : { status: 503, body: `not ready: ${reason}\n`, contentType: TEXT_TYPE, headers: { "Retry-After": "5" } };
}

export function registerHealth(app: TemplatedApp, deps: HealthDeps): void {
  const open = { auth: "none" } as const;
  route(app, deps, "any", "/healthz", (context) => probe(context, () => ({ status: 200, body: "ok\n", contentType: TEXT_TYPE })), open);
  route(app, deps, "any", "/readyz", (context) => probe(context, () => readyAnswer(deps.readiness())), open);
  // The router leaves Authorization alone here: the metrics token is not an API token.
  route(app, deps, "get", "/metrics", async (context) => {
    if (deps.config.metricsToken === "") throw new HttpError(404, "metrics are off; set NASTY_METRICS_TOKEN to turn on /metrics");
    if (!metricsAuthorized(context.headers.authorization, deps.config.metricsToken)) {
      throw new HttpError(401, "send 'Authorization: Bearer <NASTY_METRICS_TOKEN>'", {}, { "WWW-Authenticate": 'Bearer realm="metrics"' });
    }
    return { status: 200, body: await metricsText(), contentType: METRICS_CONTENT_TYPE };
  }, { auth: "none", ownAuthorization: true });
}

export interface StartupGate {
  port: number;
  /** Stops listening; connections it accepted were each closed after one answer. */
  close(): void;
}

/**
 * Listens while the log replays, before any route can see a half-built store: /healthz answers
 * 200, /readyz and everything else 503 with `progress()`. Every answer closes its connection, so
 * no client stays on this gate once the server proper listens on the same port.
 */
export function startupGate(uws: LoadedUws["uws"], host: string, port: number, progress: () => string): Promise<StartupGate> {
  const app = uws.App();
  app.any("/*", (res, req) => {
    const path = req.getUrl();
    const method = req.getMethod();
    const starting = `starting: ${progress()}; try again shortly`;
    // The JSON API answers in JSON even now, as its clients (and its OpenAPI description) expect.
    const answer =
      path === "/healthz" ? { status: 200, body: "ok\n", type: TEXT_TYPE }
      : path === "/readyz" ? { status: 503, body: `not ready: ${progress()}\n`, type: TEXT_TYPE }
      : path.startsWith("/api/") ? { status: 503, body: JSON.stringify({ error: starting }), type: "application/json" }
      : { status: 503, body: `${starting}\n`, type: TEXT_TYPE };
    res.cork(() => {
      res.writeStatus(statusLine(answer.status)).writeHeader("Content-Type", answer.type);
      if (answer.status === 503) res.writeHeader("Retry-After", "5");
      res.end(method === "head" ? "" : answer.body, true);
    });
  });
  return new Promise((resolve, reject) => {
    listenExclusive(app, host, port, (socket: us_listen_socket | false) => {
      if (!socket) {
        reject(new ConfigError(`cannot listen on ${host}:${port} (in use or not allowed)`));
        return;
      }
      resolve({ port: uws.us_socket_local_port(socket), close: () => uws.us_listen_socket_close(socket) });
    });
  });
}
