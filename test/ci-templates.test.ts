// The ready-made CI templates, run step by step here as their CI would run them, against the test
// registry: the GitHub composite action (integrations/github-action/action.yml) and the GitLab CI
// template (integrations/gitlab/vigil.gitlab-ci.yml). Each step's shell runs with the variables its
// runner sets and the inputs' expressions evaluated; only the plain expression forms the templates use
// are understood, so a template that starts using others fails here rather than untested. Vigil is
// "checked out" as the runner would find it: a copy of the repository's files beside its node_modules.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { parse } from "yaml";
import { importAdvisories } from "../src/vuln/import.ts";
import { SqliteStore } from "../src/vuln/sqlite-store.ts";
import { writeAdvisories } from "./helpers/advisories.ts";
import { GITHUB_ENV, GITLAB_ENV } from "./helpers/ci-env.ts";
import {
  COSIGN_OFFLINE_VERIFY,
  COSIGN_PASSWORD,
  cosign,
  cosignKeyPair,
  signingRegistry,
  type CosignKeyPair,
  type SigningRegistry,
} from "./helpers/image-signing.ts";
import { ociImage, writeTree } from "./helpers/sbom-targets.ts";
import { fileScope, hasTool, requireTools, run, tempDir } from "./helpers/tools.ts";

const scope = fileScope();
const REPO = join(import.meta.dirname, "..");
const TOOLS = ["docker-registry", "cosign", "skopeo", "bash", "git"];
let s: SigningRegistry;
let key: CosignKeyPair;
let dir: string;
let checkout: string;
let advisories: string;

before(() => {
  dir = tempDir(scope, "vigil-templates-");
  advisories = writeAdvisories(dir);
  // The repository as a runner checks it out, with the dependencies npm ci would install already there.
  checkout = join(dir, "vigil");
  mkdirSync(checkout);
  for (const path of ["integrations", "bin", "package.json", "package-lock.json"])
    cpSync(join(REPO, path), join(checkout, path), { recursive: true });
  symlinkSync(join(REPO, "src"), join(checkout, "src"));
  symlinkSync(join(REPO, "node_modules"), join(checkout, "node_modules"));
});

before(async () => {
  if (!TOOLS.every(hasTool)) return;
  s = await signingRegistry(scope);
  key = cosignKeyPair(s.dir, "ci");
});

async function pushApp(repository: string, lodash: string): Promise<{ image: string; digest: string }> {
  const work = tempDir(scope, "vigil-templates-image-");
  const root = writeTree(join(work, "root"), {
    "app/node_modules/lodash/package.json": JSON.stringify({ name: "lodash", version: lodash }),
  });
  const built = await ociImage(join(work, "layout"), "v1", [root], work);
  const image = `${s.registry.host}/${repository}:v1`;
  run("skopeo", ["--insecure-policy", "copy", "--dest-tls-verify=false", `oci:${join(work, "layout")}:v1`, `docker://${image}`]);
  return { image, digest: built.digest };
}

// ---------------------------------------------------------------------------------------------------
// GitHub Actions

interface ActionStep {
  name: string;
  id?: string;
  shell: string;
  env?: Record<string, string>;
  run: string;
}

/** `${{ inputs.NAME }}` with the input's value or default; any other expression is refused. */
function expand(text: string, inputs: Record<string, string>, declared: Record<string, { default?: string }>): string {
  return text.replace(/\$\{\{\s*([^}]*?)\s*\}\}/g, (_, expression: string) => {
    const input = /^inputs\.([A-Za-z0-9_-]+)$/.exec(expression);
    if (!input || !(input[1]! in declared)) throw new Error(`the action uses an expression this test cannot evaluate: ${expression}`);
    return inputs[input[1]!] ?? declared[input[1]!]!.default ?? "";
  });
}

/** Runs the composite action's steps as the runner does (bash -e -o pipefail), GITHUB_ENV carried between steps. */
function runAction(inputs: Record<string, string>): { status: number; log: string; outputs: Record<string, string> } {
  const action = parse(readFileSync(join(checkout, "integrations/github-action/action.yml"), "utf8"));
  assert.equal(action.runs.using, "composite");
  for (const [name, input] of Object.entries(action.inputs as Record<string, { required?: boolean }>)) {
    if (input.required) assert.ok(inputs[name], `required input ${name}`);
  }
  const files = tempDir(scope, "vigil-action-");
  const githubEnv = join(files, "env");
  const githubOutput = join(files, "output");
  writeFileSync(githubEnv, "");
  writeFileSync(githubOutput, "");
  let env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    ...GITHUB_ENV,
    GITLAB_CI: "",
    GITHUB_ACTION_PATH: join(checkout, "integrations/github-action"),
    GITHUB_ENV: githubEnv,
    GITHUB_OUTPUT: githubOutput,
    RUNNER_TEMP: files,
  };
  let log = "";
  for (const step of action.runs.steps as ActionStep[]) {
    assert.equal(step.shell, "bash");
    const stepEnv = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, expand(String(v), inputs, action.inputs)]));
    const r = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", expand(step.run, inputs, action.inputs)], {
      env: { ...env, ...stepEnv },
      encoding: "utf8",
      cwd: files,
    });
    log += r.stdout + r.stderr;
    if (r.status !== 0) return { status: r.status ?? 1, log, outputs: {} };
    env = { ...env, ...keyValues(readFileSync(githubEnv, "utf8")) };
  }
  return { status: 0, log, outputs: keyValues(readFileSync(githubOutput, "utf8")) };
}

const keyValues = (text: string) =>
  Object.fromEntries(
    text
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );

test("GitHub composite action: its steps sign and attest a clean image, and hand on the digest", async (t) => {
  if (!requireTools(t, TOOLS)) return;
  const { image, digest } = await pushApp("shop/action", "4.17.21");
  const db = join(dir, "action-db");
  const r = runAction({
    image,
    key: key.privatePath,
    "key-password": COSIGN_PASSWORD,
    db,
    "osv-data": advisories,
    "allow-http-registry": "true",
  });
  assert.equal(r.status, 0, r.log);
  assert.equal(r.outputs.digest, digest);
  assert.match(r.log, /verdict: PASS/);
  const pinned = `${s.registry.host}/shop/action@${digest}`;
  cosign(["verify", "--key", key.publicPath, ...COSIGN_OFFLINE_VERIFY, pinned], s.dir);
  const provenance = cosign(
    ["verify-attestation", "--key", key.publicPath, "--type", "slsaprovenance1", ...COSIGN_OFFLINE_VERIFY, pinned],
    s.dir,
  );
  const statement = JSON.parse(Buffer.from(JSON.parse(provenance.trim().split("\n")[0]!).payload, "base64").toString("utf8"));
  assert.equal(statement.predicate.runDetails.metadata.invocationId, "https://github.com/acme/shop/actions/runs/4242/attempts/1");
});

test("GitHub composite action: a vulnerable image fails the step with vigil's exit code 1", async (t) => {
  if (!requireTools(t, TOOLS)) return;
  const { image } = await pushApp("shop/action-vulnerable", "4.17.15");
  const db = join(dir, "action-db-2");
  const store = SqliteStore.open(db, { create: true });
  await importAdvisories(store, [advisories]);
  store.close();
  const r = runAction({ image, key: key.privatePath, "key-password": COSIGN_PASSWORD, db, "allow-http-registry": "true" });
  assert.equal(r.status, 1, r.log);
  assert.match(r.log, /FAIL\s+vulnerability\s+GHSA-p6mc-m468-83gw/);
});

// ---------------------------------------------------------------------------------------------------
// GitLab CI

/** GitLab expands $NAME and ${NAME} in variables from those already defined. */
const expandVariables = (value: string, env: Record<string, string>) =>
  value.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => env[name] ?? "");

/** The job that extends .vigil-ci, run as a GitLab runner's bash shell runs it: before_script then script in one shell. */
function runGitlabJob(variables: Record<string, string>): { status: number; log: string } {
  const template = parse(readFileSync(join(checkout, "integrations/gitlab/vigil.gitlab-ci.yml"), "utf8"))[".vigil-ci"];
  const builds = tempDir(scope, "vigil-gitlab-");
  let env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    ...GITLAB_ENV,
    GITHUB_ACTIONS: "",
    CI_BUILDS_DIR: builds,
    ...variables,
  };
  // Predefined and pipeline variables first, then the template's own (which may refer to them), then the job's.
  for (const [name, value] of Object.entries(template.variables as Record<string, string>))
    if (!(name in variables)) env[name] = expandVariables(String(value), env);
  env = { ...env, CI_JOB_IMAGE: expandVariables(template.image, env) };
  const script = [...template.before_script, ...template.script].join("\n");
  const r = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", script], { env, encoding: "utf8", cwd: builds });
  return { status: r.status ?? 1, log: r.stdout + r.stderr };
}

const PINNED_JOB_IMAGE = `node:24-bookworm@sha256:${"ab".repeat(32)}`;

test("GitLab template: the job's script signs and attests with provenance from GitLab's variables, and writes the digest as dotenv", async (t) => {
  if (!requireTools(t, TOOLS)) return;
  const template = parse(readFileSync(join(checkout, "integrations/gitlab/vigil.gitlab-ci.yml"), "utf8"))[".vigil-ci"];
  assert.deepEqual(template.id_tokens, { SIGSTORE_ID_TOKEN: { aud: "sigstore" } });
  assert.equal(template.artifacts.reports.dotenv, "vigil.env");
  const { image, digest } = await pushApp("shop/gitlab", "4.17.21");
  const dotenv = join(dir, "vigil.env");
  const r = runGitlabJob({
    VIGIL_JOB_IMAGE: PINNED_JOB_IMAGE,
    VIGIL_HOME: checkout,
    VIGIL_IMAGE: image,
    VIGIL_KEY: key.privatePath,
    COSIGN_PASSWORD,
    VIGIL_DB: join(dir, "gitlab-db"),
    VIGIL_OSV_DATA: advisories,
    VIGIL_ALLOW_HTTP_REGISTRY: "true",
    VIGIL_DOTENV: dotenv,
  });
  assert.equal(r.status, 0, r.log);
  assert.equal(readFileSync(dotenv, "utf8"), `VIGIL_DIGEST=${digest}\n`);
  const provenance = cosign(
    [
      "verify-attestation",
      "--key",
      key.publicPath,
      "--type",
      "slsaprovenance1",
      ...COSIGN_OFFLINE_VERIFY,
      `${s.registry.host}/shop/gitlab@${digest}`,
    ],
    s.dir,
  );
  const statement = JSON.parse(Buffer.from(JSON.parse(provenance.trim().split("\n")[0]!).payload, "base64").toString("utf8"));
  assert.equal(statement.predicate.runDetails.builder.id, "https://gitlab.example.com/acme/shop/-/runners/12");
});

test("GitLab template: a job image not pinned by digest, or Vigil not pinned by commit id, stops the job (exit 2)", (t) => {
  if (!requireTools(t, ["bash", "git"])) return;
  const unpinned = runGitlabJob({ VIGIL_JOB_IMAGE: "node:24-bookworm", VIGIL_IMAGE: "registry.example/shop:v1" });
  assert.equal(unpinned.status, 2, unpinned.log);
  assert.match(unpinned.log, /pin the job image by digest/);
  const byBranch = runGitlabJob({ VIGIL_JOB_IMAGE: PINNED_JOB_IMAGE, VIGIL_REF: "main", VIGIL_IMAGE: "registry.example/shop:v1" });
  assert.equal(byBranch.status, 2, byBranch.log);
  assert.match(byBranch.log, /VIGIL_REF must be the 40-hex commit id to run, not "main"/);
  // A commit id the repository does not have: the clone's checkout fails before anything is installed.
  const unknown = runGitlabJob({
    VIGIL_JOB_IMAGE: PINNED_JOB_IMAGE,
    VIGIL_REPOSITORY: REPO,
    VIGIL_REF: "0".repeat(40),
    VIGIL_IMAGE: "registry.example/shop:v1",
  });
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.log, /0{40}/);
});
