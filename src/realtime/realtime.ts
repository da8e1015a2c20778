// The live JSON endpoints, wired: the raw `/ws` and Phoenix `/socket/websocket` sockets and their shared hub, fed by live delivery.
import type { RegisterSocket } from "./admission.ts";
import type { Config } from "../config.ts";
import { registerPhoenixSocket } from "./phoenix-socket.ts";
import { registerRawSocket } from "./raw-socket.ts";
import { FRAME_BYTES_CLOSE, SocketHub, type HubDeps } from "./socket-hub.ts";
import { socketLimits } from "./admission.ts";

export interface RealtimeDeps extends HubDeps {
  config: Pick<Config, "wsMaxBackpressureBytes" | "wsIdleTimeoutS" | "publicUrl" | "trustProxy">;
}

export interface Realtime {
  hub: SocketHub;
  /** The `realtime` member of /api/status. */
  status: () => ReturnType<SocketHub["status"]>;
  /** Closes every socket (1001), so the process can stop. */
  close: () => void;
}

/** Registers both websocket endpoints through `register`; call before `app.listen`. */
export function registerRealtime(register: RegisterSocket, deps: RealtimeDeps): Realtime {
  const hub = new SocketHub(deps);
  const limits = socketLimits(deps.config, FRAME_BYTES_CLOSE);
  registerRawSocket(register, hub, limits);
  registerPhoenixSocket(register, hub, limits);
  deps.live.usePhoenixClasses(hub.joinRefClasses);
  deps.live.tokenRevokedListeners.push((id) => hub.tokenRevoked(id));
  return {
    hub,
    status: () => hub.status(),
    close: () => hub.closeAll(),
  };
}
