// Loads uWebSockets.js and refuses to go on without its native binary (the package silently falls back to pure JS).
import { createRequire } from "node:module";
import type * as Uws from "uWebSockets.js";

const require = createRequire(import.meta.url);

export type UwsModule = typeof Uws;

/** uSockets' LIBUS_LISTEN_EXCLUSIVE_PORT: without it uWebSockets.js sets SO_REUSEPORT on Linux. */
const LISTEN_EXCLUSIVE_PORT = 1;

/**
 * Listens on `host`:`port` alone. uWebSockets.js otherwise sets SO_REUSEPORT, so a second server
 * on a port in use would listen too and the kernel would split connections between the two; with
 * the exclusive option that second listen fails (the callback gets false).
 */
export function listenExclusive(app: Uws.TemplatedApp, host: string, port: number, listening: (socket: Uws.us_listen_socket | false) => void): void {
  // The typings lack the (host, port, options, callback) form that the native listen takes.
  (app.listen as unknown as (host: string, port: number, options: number, callback: (socket: Uws.us_listen_socket | false) => void) => void).call(app, host, port, LISTEN_EXCLUSIVE_PORT, listening);
}

export interface LoadedUws {
  uws: UwsModule;
  native: boolean;
  describe: string;
}

/** Node ABI versions (process.versions.modules) the installed package has binaries for: Node 16, 18 and 20. */
export const NATIVE_ABIS = { "93": "Node 16", "108": "Node 18", "115": "Node 20" } as const;
/** Nasty itself needs Node 20 (better-sqlite3 12 and eta 4 require it): on 16 and 18 the binary loads but Nasty does not. */
export const NODE_MAJOR_NEEDED = 20;

/** The official build whose binaries cover Node 20, 22, 24 and 25 (they need glibc 2.38 or newer on Linux). */
const OFFICIAL_INSTALL = "npm install uWebSockets.js@github:uNetworking/uWebSockets.js#v20.55.0";

export class UwsUnavailableError extends Error {
  override name = "UwsUnavailableError";
}

/** True when `App` is a C++ function: the fallback implements it in JavaScript. */
export function isNativeUws(uws: UwsModule): boolean {
  return /\{\s*\[native code\]\s*\}/.test(Function.prototype.toString.call(uws.App));
}

export function loadUws(): LoadedUws {
  const uws = require("uWebSockets.js") as UwsModule;
  const native = isNativeUws(uws);
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  return {
    uws,
    native,
    describe: native ? `uWebSockets.js native binary ${binary}` : `uWebSockets.js pure-JS FALLBACK (native ${binary} did not load)`,
  };
}

/**
 * Loads uWebSockets.js and throws UwsUnavailableError, saying why and what to do, unless its native
 * binary runs on a Node that Nasty supports. The pure-JS fallback is never served on: it crashes
 * about a second after the first connection.
 */
export function loadNativeUws(): LoadedUws {
  const running = `Node ${process.versions.node} (ABI ${process.versions.modules}, ${process.platform}-${process.arch})`;
  const major = Number(process.versions.node.split(".")[0]);
  if (major < NODE_MAJOR_NEEDED) {
    throw new UwsUnavailableError(`Nasty needs Node ${NODE_MAJOR_NEEDED}; this is ${running}. Install Node ${NODE_MAJOR_NEEDED} (e.g. \`nvm install ${NODE_MAJOR_NEEDED}\`) and run \`npm install\` again.`);
  }
  const loaded = loadUws();
  if (loaded.native) return loaded;
  const covered = Object.values(NATIVE_ABIS).join(", ");
  const why = process.env.UWS_USE_FALLBACK
    ? `UWS_USE_FALLBACK is set, which makes uWebSockets.js load its pure-JS fallback`
    : `the native uWebSockets.js binary did not load on ${running} (the installed package has binaries for ${covered} only; its warning above says why)`;
  throw new UwsUnavailableError(
    `${why}, and Nasty does not run on the fallback. Use Node ${NODE_MAJOR_NEEDED} (e.g. \`nvm install ${NODE_MAJOR_NEEDED}\`, then \`npm install\`)` +
      `${process.env.UWS_USE_FALLBACK ? " and unset UWS_USE_FALLBACK" : ""}, or, for Node 22, 24 or 25 on a system with glibc 2.38 or newer, install the official build: ${OFFICIAL_INSTALL}`,
  );
}
