// src/cluster: talking to Kubernetes and applying an environment's objects (docs/cluster.md).
export { Cluster, connectCluster, KubeApiError, type ConnectOptions, type RequestCounts, type Verb } from "./client.ts";
export type { FieldChange, FieldConflict } from "./fields.ts";
export { formatChanges } from "./fields.ts";
export { nameProblem, namespaceProblem } from "./names.ts";
export { assessHealth, type HealthOptions, type HealthReport, type HealthState, type ResourceHealth } from "./health.ts";
export { INVENTORY_FORMAT, type InventoryRef } from "./inventory.ts";
export { ENVIRONMENT_LABEL, locateObject, type ObjectRef } from "./objects.ts";
export { recordEvent, writeStatusObject, type EventInput, type StatusObjectInput } from "./status.ts";
export {
  ADOPT_ANNOTATION,
  claimingManager,
  syncSet,
  SyncRefused,
  type ObjectResult,
  type Refusal,
  type SyncAction,
  type SyncOptions,
  type SyncResult,
} from "./sync.ts";
