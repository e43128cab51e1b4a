// `npm start`: installs what Vigil's example needs (scripts/setup.ts: git, ssh-keygen, and a real
// kube-apiserver with etcd, built once from the Go module proxy), then sets up an example workspace in
// .cache/example — real ssh-keygen keys, a config repository signed through git's own signing, a trust
// policy, an agent configuration — starts the API server on loopback, and runs the agent on it:
//   1. the signed revision passes every gate and is applied;
//   2. a commit by an untrusted key lands on main: the agent blocks it and the cluster keeps what runs;
//   3. both reconciles are in the audit log, which `vigil audit verify` checks and `explain` reads.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { kubectlBinary, startKubeApiServer } from "../test/helpers/kube.ts";
import { serveExampleConsole } from "./demo-console.ts";

const root = resolve(import.meta.dirname, "..");
const work = join(root, ".cache", "example");
const repo = join(work, "config-repo");
const cli = join(root, "src", "cli", "main.ts");

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, encoding: "utf8" });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

function key(name: string): { file: string; pub: string } {
  const file = join(work, "keys", name);
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@example.com`, "-f", file]);
  return { file, pub: readFileSync(file + ".pub", "utf8").trim() };
}

function commit(who: string, keyFile: string, files: Record<string, string>, message: string): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(repo, path, ".."), { recursive: true });
    writeFileSync(join(repo, path), content);
  }
  run("git", ["add", "-A"], { cwd: repo });
  run(
    "git",
    [
      "-c",
      `user.name=${who}`,
      "-c",
      `user.email=${who}@example.com`,
      "-c",
      "gpg.format=ssh",
      "-c",
      `user.signingkey=${keyFile}`,
      "commit",
      "-q",
      "-S",
      "-m",
      message,
    ],
    { cwd: repo },
  );
}

function vigil(args: string[]): number {
  console.log(`\n$ vigil ${args.join(" ")}`);
  return spawnSync(process.execPath, [cli, ...args], { stdio: "inherit" }).status ?? 3;
}

const setup = spawnSync(process.execPath, [join(root, "scripts", "setup.ts")], { stdio: "inherit", env: { ...process.env, CI: "true" } });
if (setup.status !== 0) process.exit(setup.status ?? 3);

rmSync(work, { recursive: true, force: true });
mkdirSync(join(work, "keys"), { recursive: true });
const alice = key("alice");
const carol = key("carol");
const mallory = key("mallory");

writeFileSync(
  join(work, "vigil.trust.yaml"),
  `apiVersion: vigil.dev/v1alpha1
kind: TrustPolicy
signers:
  - name: alice
    ssh: "${alice.pub}"
  - name: carol
    ssh: "${carol.pub}"
groups:
  platform: [alice]
paths:
  - { pattern: "envs/staging/payments/**", owners: [carol, "group:platform"] }
  - { pattern: "**", owners: ["group:platform"] }
environments:
  - name: staging
    branch: main
    path: envs/staging
    commitMessage: "^[A-Z]+-[0-9]+: "
`,
);

run("git", ["init", "-q", "-b", "main", repo]);
commit(
  "alice",
  alice.file,
  { "envs/staging/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n" },
  "OPS-1: shop namespace",
);
commit(
  "carol",
  carol.file,
  {
    "envs/staging/payments/settings.yaml":
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: payments\n  namespace: shop\ndata:\n  currency: EUR\n",
  },
  "PAY-7: payments settings",
);

const cleanups: (() => unknown)[] = [];
let exitCode = 1;
try {
  console.log("Starting a Kubernetes API server (kube-apiserver and etcd on loopback)…");
  const cluster = await startKubeApiServer({ after: (fn) => void cleanups.push(fn) });
  // The kubectl scripts/setup.ts built beside the API server: a fresh machine has none on its PATH.
  run(kubectlBinary, ["--kubeconfig", cluster.admin.kubeconfigPath, "create", "namespace", "vigil-system"]);
  writeFileSync(
    join(work, "agent.yaml"),
    `apiVersion: vigil.dev/v1alpha1
kind: AgentConfig
trustPolicy: vigil.trust.yaml
namespace: vigil-system
cacheDir: cache
policy: { packs: [pss-restricted, secrets-hygiene] }
audit: { log: audit, signingKeyFile: keys/audit.key }
environments:
  - name: staging
    source: { url: config-repo }
    cluster: { kubeconfig: ${cluster.admin.kubeconfigPath} }
    namespaces: [shop]
`,
  );
  console.log(`Example workspace: ${work}`);
  const log = join(work, "audit");
  const logKey = join(work, "keys", "audit.key");
  const made = vigil(["audit", "init", "--log", log, "--key-file", logKey, "--origin", "example.com/vigil/staging"]);
  const good = vigil(["agent", "--config", join(work, "agent.yaml"), "--once"]);

  commit(
    "mallory",
    mallory.file,
    {
      "envs/staging/payments/settings.yaml":
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: payments\n  namespace: shop\ndata:\n  currency: XXX\n",
    },
    "OPS-3: harmless change",
  );
  const blocked = vigil(["agent", "--config", join(work, "agent.yaml"), "--once"]);
  const currency = run(kubectlBinary, [
    "--kubeconfig",
    cluster.admin.kubeconfigPath,
    "get",
    "configmap",
    "payments",
    "-n",
    "shop",
    "-o",
    "jsonpath={.data.currency}",
  ]);
  const verified = vigil(["audit", "verify", "--log", log, "--key", `${logKey}.pub`]);
  const explained = vigil(["audit", "explain", "ConfigMap/shop/payments", "--env", "staging", "--log", log, "--key", `${logKey}.pub`]);

  const ok = made === 0 && good === 0 && blocked === 1 && currency === "EUR" && verified === 0 && explained === 0;
  console.log(
    ok
      ? "\nThe signed revision was applied; the commit by an untrusted key was blocked, and the cluster still runs the last good revision (currency EUR).\nBoth decisions are in the audit log, which verifies; explain shows who signed what runs."
      : `\nUnexpected: signed revision exited ${good}, attack exited ${blocked}, currency in the cluster ${currency}, audit init ${made}, verify ${verified}, explain ${explained}.`,
  );
  exitCode = ok ? 0 : 1;
  if (ok) await serveExampleConsole({ work, log, verifierKeyFile: `${logKey}.pub`, repo });
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
process.exit(exitCode);
