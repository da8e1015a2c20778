// Cluster mode's own write route: a comment a follower's websocket received, run on the leader for the socket's token.
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import type { TokenId } from "../events.ts";
import type { Commands } from "../commands/commands.ts";
import { commentJson } from "../render/json.ts";
import { jsonObjectBody, route, type RouterDeps } from "./router.ts";
import { SOCKET_COMMENT_PATH } from "./forward.ts";

export interface ClusterWriteDeps extends RouterDeps {
  commands: Commands;
}

/**
 * POST SOCKET_COMMENT_PATH {token_id, bookmark_id, comment}: only as a write forwarded with the
 * cluster secret (forward.ts refuses it otherwise), so a follower's word about which token the
 * socket signed in with is believed; the token must still be active here, on the leader.
 */
export function registerClusterWrites(app: TemplatedApp, deps: ClusterWriteDeps): void {
  route(app, deps, "post", SOCKET_COMMENT_PATH, async (context) => {
    const body = jsonObjectBody(context, "token_id, bookmark_id and comment");
    const tokenId = body.token_id;
    const bookmarkId = body.bookmark_id;
    if (typeof tokenId !== "number" || typeof bookmarkId !== "number" || !Number.isSafeInteger(bookmarkId)) throw new HttpError(400, "expected numbers token_id and bookmark_id");
    const token = deps.store.tokensById.get(tokenId as TokenId);
    if (!token || deps.store.activeToken(token.hash) !== token) throw new HttpError(401, "the socket's token was revoked or has expired; connect again");
    const comment = await deps.commands.postComment(token.user, bookmarkId, body.comment);
    return { status: 201, json: { comment: commentJson(comment) } };
  }, { auth: "none", body: true, clusterOnly: true });
}
