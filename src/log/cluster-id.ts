// Cluster mode: which cluster a data directory belongs to, checked at every start against the cluster's database.
import type { Sql } from "postgres";
import type { SqliteLog } from "./sqlite.ts";
import { redactUrl } from "./postgres.ts";

/** A data directory of one cluster started against another cluster's database: the node must not start. */
export class ClusterMismatch extends Error {
  override name = "ClusterMismatch";
}

/** The cluster's id (migrations/009_cluster_id.sql), from its database. */
export async function readClusterId(sql: Sql): Promise<string> {
  const [row] = await sql<{ id: string }[]>`SELECT cluster_id::text AS id FROM cluster_leader WHERE id = 1`;
  if (!row) throw new Error("the cluster_leader row is missing");
  return row.id;
}

/**
 * Throws ClusterMismatch when `local` recorded another cluster's id than the database's. A data
 * directory with no id recorded yet (new, or from before cluster ids) passes: the caller records
 * the id once the local log checked out against the cluster's.
 */
export function checkClusterId(local: SqliteLog, clusterId: string, url: string): void {
  const recorded = local.clusterId;
  if (recorded === null || recorded === clusterId) return;
  throw new ClusterMismatch(
    `this node's data directory belongs to cluster ${recorded}, but the database at ${redactUrl(url)} holds cluster ${clusterId}: ` +
      "it must not follow (or serve) another cluster's log. Start this node on an empty data directory (it then catches up from this cluster's log), or set DATABASE_URL to its own cluster's database.",
  );
}
