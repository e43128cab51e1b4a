// Real repositories signed through git's own signing, with real ssh-keygen keys.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { run } from "./tools.ts";

export interface Signer {
  name: string;
  /** git -c options that make git sign as this person. */
  gitConfig: string[];
  /** The trust-policy signer entry for this key. */
  policyEntry: Record<string, unknown>;
  email: string;
}

export class SshSigner implements Signer {
  readonly name: string;
  readonly keyFile: string;
  readonly publicKey: string;
  readonly email: string;
  constructor(dir: string, name: string, type: "ed25519" | "ecdsa" | "rsa" = "ed25519") {
    this.name = name;
    this.email = `${name}@example.com`;
    this.keyFile = join(dir, `${name}-${type}`);
    rmSync(this.keyFile, { force: true });
    run("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", this.email, "-f", this.keyFile]);
    this.publicKey = readFileSync(this.keyFile + ".pub", "utf8").trim();
  }
  get gitConfig(): string[] {
    return ["-c", "gpg.format=ssh", "-c", `user.signingkey=${this.keyFile}`];
  }
  get policyEntry(): Record<string, unknown> {
    return { name: this.name, ssh: this.publicKey };
  }
  /** A detached SSHSIG over `data` in `namespace`. */
  sign(data: Buffer | string, namespace = "git"): string {
    return run("ssh-keygen", ["-q", "-Y", "sign", "-n", namespace, "-f", this.keyFile], { input: data });
  }
}

export class TestRepo {
  readonly dir: string;
  private clock = 1_700_000_000;
  constructor(dir: string, objectFormat: "sha1" | "sha256" = "sha1") {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    this.git("init", "-q", "-b", "main", `--object-format=${objectFormat}`);
    this.git("config", "user.name", "Test Runner");
    this.git("config", "user.email", "runner@example.com");
  }

  git(...args: string[]): string {
    return run("git", args, { cwd: this.dir, env: this.env(this.clock) }).trim();
  }

  private env(time: number): NodeJS.ProcessEnv {
    const date = `${time} +0000`;
    return { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date, GIT_CONFIG_NOSYSTEM: "1", HOME: this.dir };
  }

  /** Writes (or with null, deletes) files and commits them as `signer` (unsigned when null). */
  commit(files: Record<string, string | null>, signer: Signer | null, message = "TICKET-1: change", opts: { time?: number } = {}): string {
    for (const [path, content] of Object.entries(files)) {
      const full = join(this.dir, path);
      if (content === null) rmSync(full, { force: true });
      else {
        mkdirSync(dirname(full), { recursive: true });
        writeFileSync(full, content);
      }
    }
    this.git("add", "-A");
    return this.commitStaged(signer, message, opts);
  }

  commitStaged(signer: Signer | null, message: string, opts: { time?: number } = {}): string {
    this.clock = opts.time ?? this.clock + 60;
    const who = signer ?? { name: "nobody", email: "nobody@example.com" };
    const args = [
      "-c",
      `user.name=${who.name}`,
      "-c",
      `user.email=${who.email}`,
      ...(signer ? signer.gitConfig : []),
      "commit",
      "-q",
      "--allow-empty",
      "-m",
      message,
      ...(signer ? ["-S"] : ["--no-gpg-sign"]),
    ];
    const r = spawnSync("git", args, { cwd: this.dir, env: { ...process.env, ...this.env(this.clock) }, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`git commit failed: ${r.stderr}`);
    return this.git("rev-parse", "HEAD");
  }

  /** Writes a raw commit object (for forged or corrupted commits) and moves the branch to it. */
  writeRawCommit(content: string | Buffer, branch = "main"): string {
    const id = run("git", ["hash-object", "-t", "commit", "-w", "--stdin", "--literally"], { cwd: this.dir, input: content }).trim();
    this.git("update-ref", `refs/heads/${branch}`, id);
    return id;
  }

  catCommit(rev: string): string {
    return run("git", ["cat-file", "commit", rev], { cwd: this.dir });
  }
}

export function writePolicy(file: string, policy: Record<string, unknown>): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, stringify({ apiVersion: "vigil.dev/v1alpha1", kind: "TrustPolicy", ...policy }));
  return file;
}

/** A trust policy in which `signer` alone owns everything, with environment `env` on main at envs/ENV. */
export function soleOwnerPolicy(file: string, signer: Signer, env: string, extra: Record<string, unknown> = {}): string {
  return writePolicy(file, {
    signers: [signer.policyEntry],
    paths: [{ pattern: "**", owners: [signer.name] }],
    environments: [{ name: env, branch: "main", path: `envs/${env}` }],
    ...extra,
  });
}

/** Replaces the signature header of a raw commit object. */
export function withSignature(rawCommit: string, armored: string | null): string {
  const [headers, ...rest] = rawCommit.split("\n\n");
  const kept = headers!.split("\n").filter((l, i, all) => !(l.startsWith("gpgsig ") || (l.startsWith(" ") && isInSig(all, i))));
  const sig = armored === null ? [] : ["gpgsig " + armored.trimEnd().split("\n").join("\n ")];
  return [...kept, ...sig].join("\n") + "\n\n" + rest.join("\n\n");
}

function isInSig(lines: string[], i: number): boolean {
  for (let j = i; j >= 0; j--) if (!lines[j]!.startsWith(" ")) return lines[j]!.startsWith("gpgsig ");
  return false;
}

/** The payload git signs: the object without its gpgsig header. */
export function payloadOf(rawCommit: string): string {
  return withSignature(rawCommit, null);
}

/**
 * Stores `content` as an object of `type` exactly as given (git hash-object --literally), for objects
 * git itself would never write; returns its id.
 */
export function writeLiteralObject(dir: string, type: "commit" | "tree" | "tag" | "blob", content: string | Buffer): string {
  return run("git", ["hash-object", "-t", type, "-w", "--stdin", "--literally"], { cwd: dir, input: content }).trim();
}

export interface RawTreeEntry {
  mode: string;
  name: string | Buffer;
  /** The entry's object id, as hex. */
  id: string;
}

/** A tree object's bytes ("<mode> <name>\0<raw id>" per entry), in the order given and unchecked. */
export function rawTreeBytes(entries: RawTreeEntry[]): Buffer {
  return Buffer.concat(entries.flatMap((e) => [Buffer.from(`${e.mode} `), Buffer.from(e.name), Buffer.of(0), Buffer.from(e.id, "hex")]));
}
