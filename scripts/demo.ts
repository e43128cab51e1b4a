// `npm start`: sets up an example workspace (real ssh-keygen keys, a config repository signed through
// git's own signing, a trust policy) and runs Vigil's revision gate on it: once on the signed history,
// which passes, and once on a branch with a commit by an untrusted key, which is blocked.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const work = join(root, ".cache", "example");
const repo = join(work, "config-repo");
const cli = join(root, "src", "cli", "main.ts");

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, encoding: "utf8" });
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
  run("git", ["-c", `user.name=${who}`, "-c", `user.email=${who}@example.com`, "-c", "gpg.format=ssh", "-c", `user.signingkey=${keyFile}`,
    "commit", "-q", "-S", "-m", message], { cwd: repo });
}

function vigil(args: string[]): number {
  console.log(`\n$ vigil ${args.join(" ")}`);
  return spawnSync(process.execPath, [cli, ...args], { stdio: "inherit" }).status ?? 3;
}

rmSync(work, { recursive: true, force: true });
mkdirSync(join(work, "keys"), { recursive: true });
const alice = key("alice");
const carol = key("carol");
const mallory = key("mallory");

const trust = join(work, "vigil.trust.yaml");
writeFileSync(trust, `apiVersion: vigil.dev/v1alpha1
kind: TrustPolicy
signers:
  - name: alice
    ssh: "${alice.pub}"
  - name: carol
    ssh: "${carol.pub}"
groups:
  platform: [alice]
admins: { members: [alice, carol], threshold: 2 }
paths:
  - { pattern: "apps/payments/**", owners: [carol, "group:platform"] }
  - { pattern: "**", owners: ["group:platform"] }
environments:
  - name: staging
    branch: main
    path: envs/staging
    commitMessage: "^[A-Z]+-[0-9]+: "
`);

run("git", ["init", "-q", "-b", "main", repo]);
commit("alice", alice.file, { "envs/staging/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n" }, "OPS-1: shop namespace");
commit("carol", carol.file, { "apps/payments/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: payments\n" }, "PAY-7: payments service");
commit("alice", alice.file, { "envs/staging/kustomization.yaml": "resources: [../../apps/payments]\n" }, "OPS-2: deploy payments to staging");

console.log(`Example workspace: ${work}`);
const good = vigil(["verify", "commits", "--repo", repo, "--trust", trust, "--env", "staging"]);

run("git", ["checkout", "-q", "-b", "attack"], { cwd: repo });
commit("mallory", mallory.file, { "envs/staging/backdoor.yaml": "kind: Pod\n" }, "OPS-3: harmless change");
const blocked = vigil(["verify", "commits", "--repo", repo, "--trust", trust, "--env", "staging", "--from", "main", "--to", "attack"]);

const ok = good === 0 && blocked === 1;
console.log(ok
  ? "\nThe signed history passed; the commit by an untrusted key was blocked. Both as expected."
  : `\nUnexpected: signed history exited ${good}, attack exited ${blocked}.`);
process.exit(ok ? 0 : 1);
