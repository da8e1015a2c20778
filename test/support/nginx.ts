// Test support: Debian's nginx, started with its own prefix from docs/deploy/nginx.conf, on loopback ports, with a throwaway self-signed certificate.
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import https from "node:https";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { tempDir } from "./server.ts";
import { sleep } from "./realtime.ts";

export const NGINX = "/usr/sbin/nginx";
export const SHIPPED_CONF = path.resolve(import.meta.dirname, "../../docs/deploy/nginx.conf");
/** Longest wait for nginx to listen (a bound, not a speed assertion; 10 s was tight on a loaded 2-core machine). */
const START_WAIT_MS = 60_000;

/**
 * Why the proxy suite cannot run here, or false when it can. Under CI=true a missing nginx or
 * openssl is an error, never a skip; elsewhere the reason is printed.
 */
export function nginxSkip(suite: string): string | false {
  const missing = [NGINX, "/usr/bin/openssl"].filter((file) => !fs.existsSync(file));
  if (missing.length === 0) return false;
  if (process.env.CI === "true") throw new Error(`${missing.join(" and ")} missing; CI must run the ${suite} (apt-get install nginx openssl)`);
  const reason = `${missing.join(" and ")} not installed (apt-get install nginx openssl)`;
  console.log(`# ${suite} skipped: ${reason}`);
  return reason;
}

/** A loopback port free right now (the kernel's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export interface Nginx {
  /** `https://127.0.0.1:PORT`, TLS ended by nginx. */
  httpsUrl: string;
  /** `http://127.0.0.1:PORT`, the redirect to https. */
  httpUrl: string;
  /** The self-signed certificate (PEM) that clients trust for this run. */
  certificate: string;
  /** The configuration nginx runs, for failure messages. */
  conf: string;
  errorLog(): string;
  stop(): Promise<void>;
}

/** A self-signed certificate for 127.0.0.1 (openssl, a day), written into `dir`. */
function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, "cert.pem");
  const key = path.join(dir, "key.pem");
  const result = spawnSync("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`openssl could not make a certificate: ${result.stderr}`);
  return { cert, key };
}

/** Replaces `from` in `text`, failing when the shipped file no longer holds it (so the test cannot drift from it unseen). */
function swap(text: string, from: string | RegExp, to: string): string {
  const found = typeof from === "string" ? text.includes(from) : from.test(text);
  if (!found) throw new Error(`docs/deploy/nginx.conf no longer contains ${String(from)}; update test/support/nginx.ts`);
  return text.replace(from, to);
}

/**
 * The shipped site file with only what a test must change: the upstream port, loopback listen
 * ports (IPv6 listens dropped), the certificate paths. Everything else (headers, websocket
 * upgrade, timeouts) runs as shipped.
 */
export function deriveSiteConf(shipped: string, ports: { upstream: number; http: number; https: number }, tls: { cert: string; key: string }): string {
  let conf = swap(shipped, "server 127.0.0.1:4000;", `server 127.0.0.1:${ports.upstream};`);
  conf = swap(conf, /^\s*listen \[::\]:80;\n/m, "");
  conf = swap(conf, /^\s*listen \[::\]:443 ssl http2;\n/m, "");
  conf = swap(conf, "listen 80;", `listen 127.0.0.1:${ports.http};`);
  conf = swap(conf, "listen 443 ssl http2;", `listen 127.0.0.1:${ports.https} ssl http2;`);
  conf = swap(conf, "/etc/letsencrypt/live/links.example.org/fullchain.pem", tls.cert);
  conf = swap(conf, "/etc/letsencrypt/live/links.example.org/privkey.pem", tls.key);
  return conf;
}

/**
 * Waits until nginx bound its ports (it writes its pid file only after that) and something accepts
 * connections on the loopback `port`: a port picked free may have been taken by another process
 * meanwhile, which would accept while nginx fails to bind.
 */
async function waitForPort(port: number, child: ChildProcess, pidFile: string, errorLog: () => string): Promise<void> {
  for (let waited = 0; waited < START_WAIT_MS; waited += 50) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${errorLog()}`);
    const open = fs.existsSync(pidFile) && await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await sleep(50);
  }
  throw new Error(`nginx did not listen on ${port} within ${START_WAIT_MS} ms: ${errorLog()}`);
}

export interface NginxPorts {
  http: number;
  https: number;
}

/** nginx's two ports, chosen before the server starts so its NASTY_PUBLIC_URL can name them. */
export async function nginxPorts(): Promise<NginxPorts> {
  return { http: await freePort(), https: await freePort() };
}

/** Starts nginx on `listen` in front of `upstreamPort`, from the shipped configuration, in a fresh prefix. */
export async function startNginx(upstreamPort: number, listen: NginxPorts): Promise<Nginx> {
  const prefix = tempDir("nasty-nginx-");
  fs.chmodSync(prefix, 0o755); // nginx's workers (another user when the test runs as root) create temp files here
  const tls = makeCertificate(prefix);
  const ports = { upstream: upstreamPort, ...listen };
  const site = deriveSiteConf(fs.readFileSync(SHIPPED_CONF, "utf8"), ports, tls);
  fs.writeFileSync(path.join(prefix, "nasty.conf"), site);
  const errorLogFile = path.join(prefix, "error.log");
  const pidFile = path.join(prefix, "nginx.pid");
  const main = [
    "daemon off;",
    "worker_processes 1;",
    `pid ${pidFile};`,
    `error_log ${errorLogFile} info;`,
    "events { worker_connections 256; }",
    "http {",
    `  access_log ${path.join(prefix, "access.log")};`,
    ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((kind) => `  ${kind}_temp_path ${path.join(prefix, `${kind}_temp`)};`),
    `  include ${path.join(prefix, "nasty.conf")};`,
    "}",
  ].join("\n");
  const confFile = path.join(prefix, "nginx.conf");
  fs.writeFileSync(confFile, main);
  const errorLog = () => (fs.existsSync(errorLogFile) ? fs.readFileSync(errorLogFile, "utf8").slice(-2000) : "(no error log)");
  const child = spawn(NGINX, ["-p", prefix, "-e", errorLogFile, "-c", confFile], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (chunk) => (stderr += String(chunk)));
  try {
    await waitForPort(ports.https, child, pidFile, () => `${stderr} ${errorLog()}`);
    await waitForPort(ports.http, child, pidFile, () => `${stderr} ${errorLog()}`);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return {
    httpsUrl: `https://127.0.0.1:${ports.https}`,
    httpUrl: `http://127.0.0.1:${ports.http}`,
    certificate: fs.readFileSync(tls.cert, "utf8"),
    conf: site,
    errorLog,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM"); // nginx's fast shutdown: the master stops its workers and exits
      await exited;
      fs.rmSync(prefix, { recursive: true, force: true });
    },
  };
}

export interface ProxiedReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One https request through nginx, trusting only this run's certificate, from the loopback address `localAddress`. */
export function viaNginx(nginx: Nginx, method: string, pathname: string, options: { headers?: Record<string, string>; body?: string; localAddress?: string } = {}): Promise<ProxiedReply> {
  return new Promise((resolve, reject) => {
    const outgoing = https.request(nginx.httpsUrl + pathname, { method, ca: nginx.certificate, localAddress: options.localAddress ?? "127.0.0.1", headers: options.headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString("utf8") }));
    });
    outgoing.on("error", reject);
    outgoing.end(options.body);
  });
}
