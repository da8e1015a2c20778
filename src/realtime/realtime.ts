// The live JSON side, wired: the raw `/ws` and Phoenix `/socket/websocket` endpoints, their shared hub, and the publisher that follows the log.
import type { TemplatedApp } from "uWebSockets.js";
import type { Config } from "../config.ts";
import { Publisher } from "./publisher.ts";
import { registerPhoenixSocket } from "./phoenix-socket.ts";
import { registerRawSocket } from "./raw-socket.ts";
import { SocketHub, socketBehavior, type HubDeps } from "./socket-hub.ts";

export interface RealtimeDeps extends HubDeps {
  config: Pick<Config, "wsMaxBackpressureBytes" | "wsIdleTimeoutS" | "publicUrl" | "trustProxy">;
}

export interface Realtime {
  /** Push onto main's observers: publishes each committed event. */
  observer: Publisher;
  hub: SocketHub;
  /** The `realtime` member of /api/status. */
  status: () => ReturnType<SocketHub["status"]>;
  /** Closes every socket (1001), so the process can stop. */
  close: () => void;
}

/** Registers both websocket endpoints on `app`; call before `app.listen`. */
export function registerRealtime(app: TemplatedApp, deps: RealtimeDeps): Realtime {
  const hub = new SocketHub(deps);
  const behavior = socketBehavior(deps.config.wsMaxBackpressureBytes, deps.config.wsIdleTimeoutS);
  registerRawSocket(app, hub, behavior);
  registerPhoenixSocket(app, hub, behavior);
  return {
    observer: new Publisher(deps.store, app, hub.joinRefClasses, hub.joins, (id) => hub.tokenRevoked(id)),
    hub,
    status: () => hub.status(),
    close: () => hub.closeAll(),
  };
}
