// Loads uWebSockets.js and tells whether its native binary runs (the package silently falls back to pure JS).
import { createRequire } from "node:module";
import type * as Uws from "uWebSockets.js";

const require = createRequire(import.meta.url);

export type UwsModule = typeof Uws;

export interface LoadedUws {
  uws: UwsModule;
  native: boolean;
  describe: string;
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
    describe: native ? `uWebSockets.js native binary ${binary}` : `uWebSockets.js pure-JS FALLBACK (native ${binary} did not load): performance is degraded`,
  };
}
