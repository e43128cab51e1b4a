// Benchmark (issue 16): the policy gate against the API server it stands in for. N mixed manifests
// (bench/lib/mixed-manifests.ts) are judged by the pss-restricted pack (with pss-baseline) in two ways
// in the same run: `vigil policy check` offline, and kube-apiserver v1.37 (built by scripts/setup.ts)
// with the same pack policies installed as ValidatingAdmissionPolicies, each object sent as a
// server-side dry run (dryRun=All, fieldValidation=Strict, 8 at a time). Reported: wall time of each,
// objects per second, the ratio, and how many decisions agree (with the disagreements, by cause).
//   node bench/policy-apiserver.ts [--manifests 1000]
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadManifests, type KubeObject } from "../src/manifest/manifests.ts";
import { loadPacks } from "../src/policy/packs.ts";
import { ResourceTypes } from "../src/manifest/resources.ts";
import { kubeApi } from "../test/helpers/cluster.ts";
import { startKubeApiServer } from "../test/helpers/kube.ts";
import { tempDir } from "../test/helpers/tools.ts";
import { machine, timeCommand } from "./lib/measure.ts";
import { mixedManifests } from "./lib/mixed-manifests.ts";

const { values } = parseArgs({ options: { manifests: { type: "string", default: "1000" } } });
const count = Number(values.manifests);
const root = resolve(import.meta.dirname, "..");
const cleanups: (() => unknown)[] = [];
const scope = { after: (fn: () => unknown) => void cleanups.push(fn) };

/** subject ("Kind/ns/name", as checks name it) → denied? */
type Decisions = Map<string, boolean>;
const subjectOf = (o: KubeObject) => `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata?.name}`;

function vigilDecisions(dir: string): { seconds: number; decisions: Decisions } {
  const r = timeCommand(join(root, "bin", "vigil"), ["policy", "check", "--pack", "pss-restricted", "--json", dir]);
  if (r.status !== 0 && r.status !== 1) throw new Error(`vigil policy check exited ${r.status}`);
  const decisions: Decisions = new Map();
  for (const c of JSON.parse(r.stdout).checks as { rule: string; status: string; subject: string }[]) {
    if (c.rule === "coverage") continue;
    decisions.set(c.subject, (decisions.get(c.subject) ?? false) || c.status === "fail");
  }
  return { seconds: r.seconds, decisions };
}

async function apiServerDecisions(objects: KubeObject[]): Promise<{ seconds: number; decisions: Decisions; reasons: Map<string, string> }> {
  const cluster = await startKubeApiServer(scope);
  const types = new ResourceTypes(objects);
  const pathOf = (o: KubeObject) => {
    const t = types.of(o)!;
    const base = t.group === "" ? `/api/${t.version}` : `/apis/${t.group}/${t.version}`;
    return t.namespaced ? `${base}/namespaces/${o.metadata?.namespace ?? "default"}/${t.resource}` : `${base}/${t.resource}`;
  };
  // The namespaces and their default service accounts exist (no controller-manager makes them here).
  for (const ns of objects.filter((o) => o.kind === "Namespace")) {
    await kubeApi(cluster, "POST", "/api/v1/namespaces", ns);
    await kubeApi(cluster, "POST", `/api/v1/namespaces/${ns.metadata!.name}/serviceaccounts`, { metadata: { name: "default" } });
  }
  for (const { object } of loadPacks(["pss-restricted"])) {
    const plural = object.kind === "ValidatingAdmissionPolicy" ? "validatingadmissionpolicies" : "validatingadmissionpolicybindings";
    const answer = await kubeApi(cluster, "POST", `/apis/admissionregistration.k8s.io/v1/${plural}`, object);
    if (answer.status !== 201) throw new Error(`installing ${object.metadata?.name}: ${JSON.stringify(answer.body)}`);
  }
  const probe = objects.find((o) => o.kind === "Pod")!;
  const probeDenied = {
    ...probe,
    metadata: { ...probe.metadata, name: "probe" },
    spec: { containers: [{ name: "p", image: "busybox:1", securityContext: { runAsUser: 0 } }] },
  };
  for (
    const deadline = Date.now() + 30_000;
    (await kubeApi(cluster, "POST", `${pathOf(probe)}?dryRun=All`, probeDenied)).status === 201;
  ) {
    if (Date.now() > deadline) throw new Error("the pack policies never took effect");
    await new Promise((r) => setTimeout(r, 200));
  }
  const judged = objects.filter((o) => o.kind !== "Namespace");
  const decisions: Decisions = new Map();
  const reasons = new Map<string, string>();
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < judged.length) {
        const o = judged[next++]!;
        const answer = await kubeApi(cluster, "POST", `${pathOf(o)}?dryRun=All&fieldValidation=Strict`, o);
        decisions.set(subjectOf(o), answer.status !== 201 && answer.status !== 200);
        if (answer.status >= 300) reasons.set(subjectOf(o), String(answer.body?.message ?? answer.status));
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, decisions, reasons };
}

try {
  const dir = join(tempDir(scope, "vigil-bench-apiserver-"), "manifests");
  mixedManifests(dir, count);
  const objects = loadManifests([dir]).map((so) => so.object);
  const vigil = vigilDecisions(dir);
  const api = await apiServerDecisions(objects);
  let agree = 0;
  const differ = new Map<string, string[]>();
  for (const [subject, denied] of api.decisions) {
    const vigilDenied = vigil.decisions.get(subject) ?? false;
    if (vigilDenied === denied) agree++;
    else {
      const cause = denied
        ? `API server denies, Vigil passes: ${(api.reasons.get(subject) ?? "").replace(/^.*?denied request: |^.*? is (invalid|forbidden): /, "").slice(0, 80)}`
        : "Vigil blocks, API server admits";
      differ.set(cause, [...(differ.get(cause) ?? []), subject]);
    }
  }
  const judged = api.decisions.size;
  console.log(
    JSON.stringify(
      {
        machine: machine(),
        manifests: objects.length,
        vigil: {
          seconds: vigil.seconds,
          objectsPerSecond: objects.length / vigil.seconds,
          note: "whole process, reading and parsing included",
        },
        apiServer: {
          seconds: api.seconds,
          objectsPerSecond: judged / api.seconds,
          note: "dry-run requests only, 8 in flight; setup not counted",
        },
        ratio: { apiServerSecondsOverVigilSeconds: api.seconds / vigil.seconds },
        agreement: {
          judged,
          agree,
          differ: Object.fromEntries(
            [...differ].map(([cause, subjects]) => [cause, { count: subjects.length, examples: subjects.slice(0, 3) }]),
          ),
        },
      },
      null,
      2,
    ),
  );
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
