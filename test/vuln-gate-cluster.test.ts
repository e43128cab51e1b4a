// The gate chain as the agent runs it, against a real registry and a real API server: the artifact gate
// verifies and pins the images, the vulnerability gate judges their attested SBOMs at the environment's
// threshold, and the set is applied (server-side) only when both passed. A revision whose image has a
// finding at the threshold is blocked and the cluster keeps the last good revision; the same revision
// passes once the environment's VEX says the finding does not apply.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { artifactChecks } from "../src/artifact/gate.ts";
import type { Check } from "../src/core/verdict.ts";
import { parseTrustPolicy } from "../src/trust/policy.ts";
import { syncSet } from "../src/cluster/sync.ts";
import { PREDICATE_TYPES } from "../src/sigstore/intoto.ts";
import { pinnedImages, registrySboms, vulnerabilityGate } from "../src/vuln/gate.ts";
import type { SqliteStore } from "../src/vuln/sqlite-store.ts";
import { parseVex, type VexStatement } from "../src/vuln/vex.ts";
import { advisoryStore, releaseWithLodash } from "./helpers/advisories.ts";
import { adminCluster, createNamespaces, kubeApi, kubeForFile, manifests } from "./helpers/cluster.ts";
import { cosignKeyPair, signingRegistry, type CosignKeyPair, type SigningRegistry } from "./helpers/image-signing.ts";
import { requireKube } from "./helpers/kube.ts";
import { fileScope, hasTool, requireTools, tempDir } from "./helpers/tools.ts";

const scope = fileScope();
const kube = kubeForFile();
let s: SigningRegistry;
let ci: CosignKeyPair;
let store: SqliteStore;

before(async () => {
  const dir = tempDir(scope);
  store = await advisoryStore(dir);
  scope.after(() => store.close());
  if (!hasTool("docker-registry") || !hasTool("cosign")) return;
  s = await signingRegistry(scope);
  ci = cosignKeyPair(s.dir, "ci");
});

/** An image signed and attested with an SBOM holding lodash at `lodash`. */
const release = (repository: string, lodash: string) => releaseWithLodash(s, ci, `${s.registry.host}/${repository}`, "v1", lodash);

const deployment = (image: string) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: api, namespace: shop }
spec:
  selector: { matchLabels: { app: api } }
  template:
    metadata: { labels: { app: api } }
    spec: { containers: [{ name: api, image: "${image}" }] }
`;

/** artifact gate → vulnerability gate → apply, stopping at the first gate that fails, as the agent's chain does. */
async function reconcile(image: string, vex: VexStatement[] = []): Promise<{ checks: Check[]; applied: boolean }> {
  const policy = await parseTrustPolicy(
    `apiVersion: vigil.dev/v1alpha1
kind: TrustPolicy
images:
  - pattern: "${s.registry.host}/shop/**"
    signers: [{ key: ${JSON.stringify(ci.publicPem)} }]
    attestations: [{ predicateType: ${PREDICATE_TYPES.cyclonedx} }]
`,
    "trust.yaml",
    () => "",
  );
  const artifact = await artifactChecks(manifests(deployment(image)), { policy, client: s.client });
  if (!artifact.pinned) return { checks: artifact.checks, applied: false };
  const sbomFor = registrySboms({ client: s.client, trustFor: () => ({ signers: [{ key: ci.publicPem }] }), toolVersion: "test" });
  const checks = [...artifact.checks, ...(await vulnerabilityGate(pinnedImages(artifact.pinned), { store, failOn: "high", vex, sbomFor }))];
  if (checks.some((c) => c.status === "fail")) return { checks, applied: false };
  const cluster = await adminCluster(kube.cluster, scope);
  await syncSet(cluster, artifact.pinned, {
    environment: "prod",
    inventory: { namespace: "vigil-system", name: "inventory-prod" },
    allowedNamespaces: ["shop"],
  });
  return { checks, applied: true };
}

const liveImage = async () =>
  (await kubeApi(kube.cluster, "GET", "/apis/apps/v1/namespaces/shop/deployments/api")).body?.spec?.template?.spec?.containers?.[0]?.image;

test("a revision with a finding at the threshold is blocked on a real API server; a clean one, or one VEX covers, is applied", async (t) => {
  if (!requireKube(t) || !requireTools(t, ["docker-registry", "cosign"])) return;
  await createNamespaces(kube.cluster, "shop", "vigil-system");
  const clean = await release("shop/api", "4.17.21");
  const first = await reconcile(clean);
  assert.ok(first.applied, JSON.stringify(first.checks));
  assert.match(await liveImage(), new RegExp(`^${clean}@sha256:`));
  const lastGood = await liveImage();

  const vulnerable = await release("shop/api", "4.17.15");
  const blocked = await reconcile(vulnerable);
  assert.equal(blocked.applied, false);
  const finding = blocked.checks.find((c) => c.gate === "vulnerability" && c.rule === "GHSA-p6mc-m468-83gw")!;
  assert.equal(finding.status, "fail");
  assert.match(finding.message, /HIGH 7.4 in lodash 4.17.15.*fixed in 4.17.19/);
  assert.equal(await liveImage(), lastGood, "the cluster keeps the last good revision");

  const vex = parseVex(
    JSON.stringify({
      "@context": "https://openvex.dev/ns/v0.2.0",
      "@id": "prod-vex",
      author: "security",
      timestamp: "2024-01-01T00:00:00Z",
      version: 1,
      statements: [
        {
          vulnerability: { name: "CVE-2020-8203" },
          products: [{ "@id": "pkg:npm/lodash@4.17.15" }],
          status: "not_affected",
          justification: "vulnerable_code_not_in_execute_path",
        },
      ],
    }),
    "prod.vex.json",
  );
  const covered = await reconcile(vulnerable, vex);
  assert.ok(covered.applied, JSON.stringify(covered.checks));
  assert.equal(covered.checks.find((c) => c.rule === "GHSA-p6mc-m468-83gw")?.status, "skip");
  assert.notEqual(await liveImage(), lastGood);
});
