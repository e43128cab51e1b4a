// Benchmark (issue 15 §4, a large manifest set): the agent's path from git's objects to Kubernetes
// objects (renderRevision) on a plain folder of F files of D ConfigMaps each, every one carrying a
// value of S bytes. Measured in one run, each in a process of its own: Vigil's peak resident memory
// and time on the large set, and on its first P files both Vigil and kustomize build (the peer: it too
// reads every document and emits objects; on the whole set it ran for more than 13 minutes), with the
// ratios. The set itself must be held (the gates judge it whole); what streaming
// bounds is everything around it: blob bytes, decoded text and parser events of one file, one document
// at a time, instead of all files at once.
//   node bench/agent-manifests.ts [--files 100] [--docs 200] [--value-bytes 4096] [--peer-files 5]
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { kustomizeBinary } from "../src/render/kustomize-release.ts";
import { run, tempDir } from "../test/helpers/tools.ts";
import { machine, timeCommand, timed } from "./lib/measure.ts";

const { values } = parseArgs({
  options: {
    files: { type: "string", default: "100" },
    docs: { type: "string", default: "200" },
    "value-bytes": { type: "string", default: "4096" },
    "peer-files": { type: "string", default: "5" },
  },
});
const files = Number(values.files);
const docs = Number(values.docs);
const valueBytes = Number(values["value-bytes"]);
const peerFiles = Math.min(files, Number(values["peer-files"]));
const cleanups: (() => unknown)[] = [];
const scope = { after: (fn: () => unknown) => void cleanups.push(fn) };

const repo = tempDir(scope, "vigil-bench-manifests-");
const env = join(repo, "envs", "big");
mkdirSync(env, { recursive: true });
let bytes = 0;
for (let f = 0; f < files; f++) {
  const parts: string[] = [];
  for (let d = 0; d < docs; d++) {
    // Each value differs, as real data does (no string shared between objects).
    const value = `${f}-${d}-`.padEnd(valueBytes, "abcdefghijklmnopqrstuvwxyz0123456789");
    parts.push(
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${f}-${d}\n  namespace: big\n  labels:\n    app: big\ndata:\n  value: "${value}"\n`,
    );
  }
  const text = parts.join("---\n");
  bytes += text.length;
  writeFileSync(join(env, `file-${String(f).padStart(4, "0")}.yaml`), text);
}
run("git", ["init", "-q", "-b", "main", repo]);
run("git", ["-C", repo, "add", "."]);
run("git", ["-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "large set"]);
const commit = run("git", ["-C", repo, "rev-parse", "HEAD"]).trim();

console.log(
  `# Large manifest set: ${files} files × ${docs} ConfigMaps (${(files * docs).toLocaleString("en")} objects), ${(bytes / 2 ** 20).toFixed(0)} MiB of YAML`,
);
console.log(`machine: ${machine()}`);
const child = join(import.meta.dirname, "lib", "render-child.ts");
const rss = join(import.meta.dirname, "lib", "report-rss.ts");
const fileName = (f: number) => `file-${String(f).padStart(4, "0")}.yaml`;

/** Vigil's render of a folder holding the first `count` files, in a process of its own. */
function vigil(path: string, whole = false): { objects: number; seconds: number; process: number; rssMiB: number } {
  const r = timeCommand(process.execPath, ["--import", rss, child, repo, commit, path, ...(whole ? ["--whole"] : [])]);
  if (r.status !== 0) throw new Error(`render failed: ${r.stdout}`);
  const out = JSON.parse(r.stdout) as { objects: number; seconds: number };
  return { ...out, process: r.seconds, rssMiB: r.maxRssKiB! / 1024 };
}

// The peer's set: the first P files, in a folder of their own (also in the commit, for Vigil).
const small = join(repo, "envs", "small");
mkdirSync(small, { recursive: true });
for (let f = 0; f < peerFiles; f++) writeFileSync(join(small, fileName(f)), readFileSync(join(env, fileName(f))));
run("git", ["-C", repo, "add", "."]);
run("git", ["-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "peer set"]);
const peerCommit = run("git", ["-C", repo, "rev-parse", "HEAD"]).trim();
const large = vigil("envs/big");
const before = vigil("envs/big", true);
const vigilSmallRun = timeCommand(process.execPath, ["--import", rss, child, repo, peerCommit, "envs/small"]);
const vigilSmall = {
  ...(JSON.parse(vigilSmallRun.stdout) as { objects: number; seconds: number }),
  process: vigilSmallRun.seconds,
  rssMiB: vigilSmallRun.maxRssKiB! / 1024,
};
writeFileSync(
  join(small, "kustomization.yaml"),
  `resources:\n${Array.from({ length: peerFiles }, (_, f) => `  - ${fileName(f)}\n`).join("")}`,
);
const peer = timed(kustomizeBinary(), ["build", small, "-o", join(repo, "out.yaml")]);
if (peer.status !== 0) throw new Error("kustomize build failed");
const smallMiB = (peerFiles * bytes) / files / 2 ** 20;
console.log(`| set | tool | objects | seconds | peak RSS |`);
console.log(`|---|---|---|---|---|`);
console.log(
  `| ${(bytes / 2 ** 20).toFixed(0)} MiB | vigil renderRevision | ${large.objects} | ${large.seconds.toFixed(2)} (${large.process.toFixed(2)} whole process) | ${large.rssMiB.toFixed(0)} MiB |`,
);
console.log(
  `| ${(bytes / 2 ** 20).toFixed(0)} MiB | vigil, all blobs then whole files (before) | ${before.objects} | ${before.seconds.toFixed(2)} (${before.process.toFixed(2)} whole process) | ${before.rssMiB.toFixed(0)} MiB |`,
);
console.log(
  `| ${smallMiB.toFixed(1)} MiB | vigil renderRevision | ${vigilSmall.objects} | ${vigilSmall.seconds.toFixed(2)} (${vigilSmall.process.toFixed(2)} whole process) | ${vigilSmall.rssMiB.toFixed(0)} MiB |`,
);
console.log(
  `| ${smallMiB.toFixed(1)} MiB | kustomize build | ${peerFiles * docs} | ${peer.seconds.toFixed(2)} | ${peer.maxRssMiB.toFixed(0)} MiB |`,
);
console.log(
  `ratios on the peer's set (vigil / kustomize, whole processes): time ${(vigilSmall.process / peer.seconds).toFixed(3)}, peak RSS ${(vigilSmall.rssMiB / peer.maxRssMiB).toFixed(2)}`,
);
console.log(
  `large set: streamed / before: peak RSS ${(large.rssMiB / before.rssMiB).toFixed(2)}, time ${(large.seconds / before.seconds).toFixed(2)}; vigil's peak RSS is ${(large.rssMiB / (bytes / 2 ** 20)).toFixed(2)}× the YAML's size`,
);
for (const c of cleanups.reverse()) await c();
