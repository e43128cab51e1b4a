// Benchmark (issue 5, commit to applied): the agent in loop mode with its webhook on, a config
// repository whose commits are signed through git with a real ssh-keygen key, fetched over file:// (a
// real git fetch), every gate on (revision, policy with pss-restricted, artifact against a signed image
// in a loopback docker-registry), and N resources in 20 namespaces already applied on a real
// kube-apiserver. Then, several times: a signed commit changes one file (one ConfigMap's value), the
// webhook is POSTed as a Git host would (X-Hub-Signature-256), and the clock runs until the API server
// serves the ConfigMap with the new value. Two replicas run (leader election on the Lease): the
// webhook goes to the leader in half the runs and to the standby in the other half (which records it
// on vigil-triggers for the leader, triggers.ts). Reported: median and max of webhook-to-applied for
// each, and the reconcile's time per step (fetch, revision, render, policy, artifact, apply, health).
//   node bench/agent-webhook.ts [--resources 1000] [--namespaces 20] [--runs 7]   (runs per replica)
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startAgent } from "../src/agent/agent.ts";
import type { ReconcileResult } from "../src/agent/reconcile.ts";
import { forgeDeliveryHeaders } from "../src/core/webhook-signature.ts";
import { signImage } from "../src/artifact/sign-image.ts";
import { agentTestCluster, writeAgentConfig } from "../test/helpers/agent.ts";
import { soleOwnerPolicy, SshSigner, TestRepo } from "../test/helpers/git-fixture.ts";
import { cosignKeyPair, signingRegistry } from "../test/helpers/image-signing.ts";
import { pushTestImage } from "../test/helpers/registry.ts";
import { tempDir } from "../test/helpers/tools.ts";
import { machine, median } from "./lib/measure.ts";

const { values } = parseArgs({
  options: {
    resources: { type: "string", default: "1000" },
    namespaces: { type: "string", default: "20" },
    runs: { type: "string", default: "7" },
  },
});
const total = Number(values.resources);
const namespaceCount = Number(values.namespaces);
const runs = Number(values.runs);
const cleanups: (() => unknown)[] = [];
const scope = { after: (fn: () => unknown) => void cleanups.push(fn) };
const ENV = "bench";
const SECRET = "bench-webhook-secret-of-some-length";

/** The environment's files: one Namespace per folder, then ConfigMaps, Secrets and Deployments in rotation. */
function setFiles(image: string): { files: Record<string, string>; namespaces: string[] } {
  const namespaces = Array.from({ length: namespaceCount }, (_, i) => `bench-${String(i).padStart(2, "0")}`);
  const files: Record<string, string> = {};
  for (const ns of namespaces) files[`envs/${ENV}/${ns}/namespace.yaml`] = `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n`;
  for (let i = 0, written = namespaceCount; written < total; i++, written++) {
    const ns = namespaces[i % namespaceCount]!;
    const name = `obj-${String(Math.floor(i / namespaceCount)).padStart(3, "0")}`;
    files[`envs/${ENV}/${ns}/${name}.yaml`] = objectYaml(i % 3, ns, name, image, "v0");
  }
  return { files, namespaces };
}

function objectYaml(kind: number, ns: string, name: string, image: string, marker: string): string {
  if (kind === 0)
    return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${ns}\ndata:\n  version: ${marker}\n  mode: strict\n`;
  if (kind === 1)
    return `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${name}\n  namespace: ${ns}\ntype: Opaque\nstringData:\n  token: not-a-real-${name}\n`;
  // Restricted-compliant, so that the policy gate (pss-restricted) passes; the image by tag, pinned by the artifact gate.
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  replicas: 2
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      securityContext: { runAsNonRoot: true, seccompProfile: { type: RuntimeDefault } }
      containers:
        - name: app
          image: ${image}
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: [ALL] } }
          resources: { requests: { cpu: 100m, memory: 64Mi } }
`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const STEP_ORDER = ["fetch", "revision", "render", "policy", "artifact", "apply", "health"];

try {
  const dir = tempDir(scope, "vigil-bench-webhook-");
  console.error(`${total} resources in ${namespaceCount} namespaces; starting a registry and an API server…`);
  const registry = await signingRegistry(scope);
  const key = cosignKeyPair(registry.dir, "ci");
  const repository = `${registry.registry.host}/shop/web`;
  await pushTestImage(registry.client.repository(repository), { tag: "v1" });
  await signImage(registry.client, `${repository}:v1`, key.signing);
  const { cluster, admin } = await agentTestCluster(scope);

  const alice = new SshSigner(dir, "alice");
  const trust = soleOwnerPolicy(join(dir, "trust.yaml"), alice, ENV, {
    images: [{ pattern: `${registry.registry.host}/**`, signers: [{ key: key.publicPem }] }],
  });
  const repo = new TestRepo(join(dir, "config"));
  const { files, namespaces } = setFiles(`${repository}:v1`);
  repo.commit(files, alice, "BENCH-1: the whole set");
  const secretFile = join(dir, "webhook-secret");
  writeFileSync(secretFile, SECRET);
  mkdirSync(join(dir, "cache"));
  const configFile = writeAgentConfig(dir, {
    trust,
    packs: ["pss-restricted"],
    extra: `insecureRegistries: ["${registry.registry.host}"]\nwebhook: { listen: "127.0.0.1:0", secretFile: ${secretFile} }\n`,
    environments: [{ name: ENV, url: `file://${repo.dir}`, cluster: cluster.admin.kubeconfigPath, namespaces, interval: "1h" }],
  });

  const results: ReconcileResult[] = [];
  const agent = await startAgent({ configFile, identity: "bench-leader", onResult: (r) => results.push(r) });
  scope.after(() => agent.stop());
  const { webhook } = await agent.listen();
  const looping = agent.loop();
  const waitFor = async (what: string, done: () => boolean | Promise<boolean>, timeoutMs = 300_000) => {
    const started = Date.now();
    while (!(await done())) {
      if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await sleep(10);
    }
  };
  await waitFor("the first sync", () => results.length === 1);
  const first = results[0]!;
  const failed = first.verdict.checks.filter((c) => c.status === "fail");
  if (first.exitCode !== 0 || !first.applied) throw new Error(`the first sync did not apply: ${JSON.stringify(failed.slice(0, 3))}`);
  console.error(`first sync: ${first.seconds.toFixed(2)} s ${JSON.stringify(first.steps)}`);
  // The second replica starts once the first leads: it stands by.
  const standbyResults: ReconcileResult[] = [];
  const standby = await startAgent({ configFile, identity: "bench-standby", onResult: (r) => standbyResults.push(r) });
  scope.after(() => standby.stop());
  const { webhook: standbyWebhook } = await standby.listen();
  const standbyLooping = standby.loop();
  await sleep(500);
  if (!agent.leading || standby.leading) throw new Error("the first replica should lead and the second stand by");

  const target = { ns: namespaces[0]!, name: "obj-000" };
  const livePath = `/api/v1/namespaces/${target.ns}/configmaps/${target.name}`;
  const valueNow = async () => (await admin.call({ verb: "get", method: "GET", path: livePath })).body?.data?.version;
  const samples: { via: "leader" | "standby"; applied: number; reconcile: number; commit: number; steps: Record<string, number> }[] = [];
  for (let run = 1; run <= 2 * runs; run++) {
    const via = run % 2 === 1 ? "leader" : "standby";
    const value = `v${run}`;
    const committing = performance.now();
    const commit = repo.commit(
      { [`envs/${ENV}/${target.ns}/${target.name}.yaml`]: objectYaml(0, target.ns, target.name, `${repository}:v1`, value) },
      alice,
      `BENCH-${run + 1}: one file`,
    );
    const commitSeconds = (performance.now() - committing) / 1000;
    const before = results.length;
    const sent = performance.now();
    // A forge's push names the new commit: each delivery's body differs (the same signed body twice is a replay).
    const push = JSON.stringify({ ref: "refs/heads/main", after: commit });
    const res = await fetch(`${via === "leader" ? webhook : standbyWebhook}/hooks/${ENV}`, {
      method: "POST",
      body: push,
      headers: { "content-type": "application/json", ...forgeDeliveryHeaders(SECRET, `/hooks/${ENV}`, push) },
    });
    if (res.status !== 202) throw new Error(`the webhook answered ${res.status}: ${await res.text()}`);
    await waitFor("the change in the API server", async () => (await valueNow()) === value, 60_000);
    const applied = (performance.now() - sent) / 1000;
    await waitFor("the reconcile's result", () => results.slice(before).some((r) => r.revision === commit));
    const result = results.slice(before).find((r) => r.revision === commit)!;
    if (result.exitCode !== 0)
      throw new Error(
        `run ${run}: the reconcile did not pass: ${JSON.stringify(result.verdict.checks.filter((c) => c.status === "fail"))}`,
      );
    samples.push({ via, applied, reconcile: result.seconds, commit: commitSeconds, steps: result.steps });
    console.error(
      `run ${run}, webhook to the ${via}: applied ${applied.toFixed(3)} s after the webhook; reconcile ${result.seconds.toFixed(3)} s ${JSON.stringify(Object.fromEntries(Object.entries(result.steps).map(([k, v]) => [k, Number(v.toFixed(3))])))}`,
    );
  }
  if (standbyResults.length > 0) throw new Error("the standby reconciled");
  await standby.stop();
  await agent.stop();
  await Promise.all([looping, standbyLooping]);

  const appliedSeconds = samples.map((s) => s.applied);
  const summary = (xs: number[]) => ({ median: median(xs), max: Math.max(...xs) });
  const viaLeader = summary(samples.filter((s) => s.via === "leader").map((s) => s.applied));
  const viaStandby = summary(samples.filter((s) => s.via === "standby").map((s) => s.applied));
  const stepMedians = Object.fromEntries(
    STEP_ORDER.filter((s) => samples.every((x) => s in x.steps)).map((s) => [s, median(samples.map((x) => x.steps[s]!))]),
  );
  const result = {
    machine: machine(),
    resources: total,
    namespaces: namespaceCount,
    runs,
    firstSync: { seconds: first.seconds, steps: first.steps },
    webhookToApplied: { ...summary(appliedSeconds), viaLeader, viaStandby, all: appliedSeconds },
    reconcile: { median: median(samples.map((s) => s.reconcile)), steps: stepMedians },
    signedCommit: { median: median(samples.map((s) => s.commit)) },
  };
  console.log(JSON.stringify(result, null, 2));
  const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;
  console.log(`
| measure (${total} resources, ${namespaceCount} namespaces, every gate, ${2 * runs} runs) | value |
|---|---|
| **webhook to the changed object served by the API server, median / max** | **${ms(result.webhookToApplied.median)} / ${ms(result.webhookToApplied.max)}** (target < 2 s) |
| … webhook to the leader (${runs} runs), median / max | ${ms(viaLeader.median)} / ${ms(viaLeader.max)} |
| … webhook to the standby, relayed through vigil-triggers (${runs} runs), median / max | ${ms(viaStandby.median)} / ${ms(viaStandby.max)} |
| the whole reconcile (to health assessed), median | ${ms(result.reconcile.median)} |
${Object.entries(stepMedians)
  .map(([s, v]) => `| … ${s}, median | ${ms(v)} |`)
  .join("\n")}
| first sync of the set (every gate), for comparison | ${first.seconds.toFixed(2)} s |
| making the signed commit (git + ssh-keygen, not counted) | ${ms(result.signedCommit.median)} |
`);
} finally {
  for (const fn of cleanups.reverse()) await fn();
}
