// The key the agent's own state is kept under (issue 15 §4). The status ConfigMap's last applied
// revision and the inventory decide the revision gate's range, rollback refusal and pruning; anyone
// who may write ConfigMaps in the agent's namespace could change them. So both carry an HMAC under a
// key only the agent holds:
//
// - with an audit log, derived from the log's signing key (the status is also checked against the log);
// - without one, 32 random bytes in the Secret vigil-agent-state of the agent's namespace, which the
//   agent creates at its first start and may read by name alone (deploy/20-rbac.yaml); the
//   environments' accounts cannot read Secrets there.
//
// A key Secret that is gone while statuses signed by it remain is refused, never replaced: a new key
// would make whoever deleted it the author of the next state. When this start made the key, each
// environment's unsigned status and inventory (written before states were signed) are taken once.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { ExitCode, VigilError } from "../core/errors.ts";
import { readInputText } from "../core/input-file.ts";
import { apiFailure, type Cluster } from "../cluster/client.ts";

export const STATE_KEY_SECRET = "vigil-agent-state";
/** The status field that carries the status's HMAC. */
export const STATUS_MAC_FIELD = "stateMac";

export interface StateKey {
  /** Where the key is kept, for messages. */
  readonly source: string;
  /** The key the environment's inventory is kept under: one per environment, so one's cannot pass for another's. */
  inventory(environment: string): Buffer;
  /** The HMAC of a status's last applied revision and its time. */
  status(environment: string, lastApplied: string | undefined, lastAppliedAt: string | undefined): string;
  /** Environments whose unsigned state is taken as it is, once: the key was made by this start. */
  readonly firstUse: Set<string>;
  /**
   * Environments known to have applied (kept on the key's Secret): one of them whose status and
   * inventory are both gone was reset, not never deployed. Undefined when the audit log says it.
   */
  readonly applied?: ReadonlySet<string>;
  /** Records that the environment has applied (once per environment). */
  recordApplied?(environment: string): Promise<void>;
}

/** The annotation on the key's Secret listing the environments that have applied. */
export const APPLIED_ANNOTATION = "vigil.dev/applied-environments";

function keyFrom(root: Buffer, source: string, firstUse: Iterable<string> = []): StateKey {
  const derive = (purpose: string) => createHmac("sha256", root).update(purpose).digest();
  return {
    source,
    inventory: (environment) => derive(`vigil inventory\n${environment}`),
    status: (environment, lastApplied, lastAppliedAt) =>
      createHmac("sha256", derive(`vigil status\n${environment}`))
        .update(`${lastApplied ?? ""}\n${lastAppliedAt ?? ""}`)
        .digest("base64url"),
    firstUse: new Set(firstUse),
  };
}

/** The key derived from the audit log's signing key, which only the agent holds. */
export function stateKeyFromAuditKey(signingKeyFile: string): StateKey {
  const root = createHash("sha256")
    .update("vigil state key\n")
    .update(readInputText(signingKeyFile, "the audit log's signing key"))
    .digest();
  return keyFrom(root, `derived from the audit log's signing key ${signingKeyFile}`);
}

/** Whether a MAC given in a status equals the expected one, in constant time. */
export function macMatches(given: unknown, expected: string): boolean {
  if (typeof given !== "string") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface StateKeyOptions {
  cluster: Cluster;
  namespace: string;
  environments: readonly string[];
  /** Whether any environment's status carries a MAC (it was signed by a key that is now gone). */
  signedStatusExists(): Promise<boolean>;
  /** A dry run reads the key and creates none. */
  dryRun: boolean;
}

/** The key in the agent's Secret, created when missing (not in a dry run: then undefined). */
export async function loadStateKeySecret(options: StateKeyOptions): Promise<StateKey | undefined> {
  const { cluster, namespace } = options;
  const where = `Secret ${namespace}/${STATE_KEY_SECRET}`;
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
  for (let attempt = 0; attempt < 3; attempt++) {
    const answer = await cluster.call({ verb: "get", method: "GET", path: `${path}/${STATE_KEY_SECRET}` });
    if (answer.status === 200)
      return withApplied(
        keyFrom(decodeKey(answer.body?.data?.key, where), `the ${where}`),
        options,
        answer.body?.metadata?.annotations?.[APPLIED_ANNOTATION],
      );
    if (answer.status !== 404)
      throw apiFailure(answer, `reading the agent's state key (${where}; the agent needs get on it, deploy/20-rbac.yaml)`);
    if (options.dryRun) return undefined;
    if (await options.signedStatusExists()) {
      throw new VigilError(
        `the agent's state key (${where}) is gone, but statuses in ${namespace} are signed by it: it was deleted outside the agent, and a new key would let whoever did it write the next state. ` +
          `Restore the Secret from a backup, or, once you know who deleted it, delete the vigil-status-* and vigil-inventory-* ConfigMaps of ${namespace} to start the environments' history over`,
        ExitCode.blocked,
      );
    }
    const created = await cluster.call({
      verb: "create",
      method: "POST",
      path,
      body: {
        apiVersion: "v1",
        kind: "Secret",
        type: "Opaque",
        metadata: {
          name: STATE_KEY_SECRET,
          namespace,
          labels: { "app.kubernetes.io/managed-by": "vigil", "app.kubernetes.io/part-of": "vigil" },
        },
        data: { key: randomBytes(32).toString("base64") },
      },
    });
    if (created.status === 201)
      return withApplied(keyFrom(decodeKey(created.body?.data?.key, where), `the ${where}`, options.environments), options, undefined);
    // Another replica made it meanwhile: read that one.
    if (created.status !== 409)
      throw apiFailure(
        created,
        `creating the agent's state key (${where}; the agent needs create on Secrets in ${namespace}, deploy/20-rbac.yaml)`,
      );
  }
  throw new VigilError(`the agent's state key (${where}) could be neither read nor created`, ExitCode.unavailable);
}

/** The key with the environments its Secret lists as applied, and the means to add one (a merge patch of that Secret alone). */
function withApplied(key: StateKey, options: StateKeyOptions, listed: unknown): StateKey {
  const applied = new Set(typeof listed === "string" ? listed.split(",").filter((e) => e !== "") : []);
  const path = `/api/v1/namespaces/${encodeURIComponent(options.namespace)}/secrets/${STATE_KEY_SECRET}`;
  return {
    ...key,
    applied,
    async recordApplied(environment) {
      if (applied.has(environment)) return;
      // Read again first: another replica or agent may have added its own since.
      const current = await options.cluster.call({ verb: "get", method: "GET", path });
      if (current.status !== 200)
        throw apiFailure(current, `reading the agent's state key (Secret ${options.namespace}/${STATE_KEY_SECRET})`);
      const before = String(current.body?.metadata?.annotations?.[APPLIED_ANNOTATION] ?? "")
        .split(",")
        .filter((e) => e !== "");
      const list = [...new Set([...before, environment])].sort().join(",");
      const patched = await options.cluster.call({
        verb: "patch",
        method: "PATCH",
        path,
        body: { metadata: { resourceVersion: current.body?.metadata?.resourceVersion, annotations: { [APPLIED_ANNOTATION]: list } } },
        contentType: "application/merge-patch+json",
      });
      if (patched.status !== 200)
        throw apiFailure(
          patched,
          `recording that ${environment} has applied on the agent's state key (Secret ${options.namespace}/${STATE_KEY_SECRET}; the agent needs patch on it)`,
        );
      for (const e of list.split(",")) applied.add(e);
    },
  };
}

function decodeKey(value: unknown, where: string): Buffer {
  const key = typeof value === "string" ? Buffer.from(value, "base64") : Buffer.alloc(0);
  if (key.length < 32)
    throw new VigilError(
      `the ${where} holds no key of 32 bytes or more under "key"; delete it only if no status is signed yet`,
      ExitCode.blocked,
    );
  return key;
}
