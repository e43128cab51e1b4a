// Where `vigil policy check` spends its time, measured in-process: reading and parsing the manifests,
// loading and compiling the packs, evaluating. Prints seconds per phase as JSON.
//   node bench/lib/policy-phases.ts MANIFESTS_DIR PARAMS_FILE PACK...
import { loadManifests } from "../../src/manifest/manifests.ts";
import { loadPacks } from "../../src/policy/packs.ts";
import { policyChecks } from "../../src/policy/gate.ts";

const [manifestDir, paramsFile, ...packs] = process.argv.slice(2);
if (!manifestDir || !paramsFile || packs.length === 0) throw new Error("usage: node policy-phases.ts MANIFESTS_DIR PARAMS_FILE PACK...");

const seconds = (from: number) => (performance.now() - from) / 1000;
let t = performance.now();
const manifests = loadManifests([manifestDir]);
const parse = seconds(t);
t = performance.now();
const policies = [...loadPacks(packs), ...loadManifests([paramsFile])];
const loadingPacks = seconds(t);
t = performance.now();
// Compiling the policies happens inside policyChecks; it is part of this figure.
const checks = policyChecks({ manifests, policies });
const evaluate = seconds(t);
console.log(JSON.stringify({ parse, loadPacks: loadingPacks, evaluate, checks: checks.length }));
