// Builds a repository of N SSH-signed commits quickly, for benchmarks only. Signing through git would
// start ssh-keygen per commit (minutes for 10,000), so commits are signed here with node:crypto in the
// SSHSIG format and written as loose objects; the benchmark then has real git check every signature
// (git log --show-signature), which proves they are genuine.
import { createHash, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync, rmSync, renameSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { signedData } from "../../src/git/signatures/sshsig.ts";
import { sshString } from "../../src/trust/ssh-wire.ts";

export interface SignedHistory {
  dir: string;
  allowedSigners: string;
  publicKey: string;
  commits: number;
}

export function writeObject(gitDir: string, type: string, body: Buffer): Buffer {
  const data = Buffer.concat([Buffer.from(`${type} ${body.length}\0`), body]);
  const id = createHash("sha1").update(data).digest();
  const hex = id.toString("hex");
  const dir = join(gitDir, "objects", hex.slice(0, 2));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, hex.slice(2)), deflateSync(data, { level: 1 }));
  return id;
}

function tree(entries: { mode: string; name: string; id: Buffer }[]): Buffer {
  const sorted = [...entries].sort((a, b) =>
    a.name + (a.mode === "40000" ? "/" : "") < b.name + (b.mode === "40000" ? "/" : "") ? -1 : 1,
  );
  return Buffer.concat(sorted.map((e) => Buffer.concat([Buffer.from(`${e.mode} ${e.name}\0`), e.id])));
}

/** An Ed25519 key pair with its SSH public key blob and authorized_keys line. */
export function sshKeyPair(comment: string): { privateKey: KeyObject; publicBlob: Buffer; publicLine: string } {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
  const publicBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(raw)]);
  return { privateKey, publicBlob, publicLine: `ssh-ed25519 ${publicBlob.toString("base64")} ${comment}` };
}

/** An armored SSHSIG over `message` in `namespace`, as ssh-keygen -Y sign writes it. */
export function sshsig(privateKey: KeyObject, publicBlob: Buffer, message: Buffer, namespace = "git"): string {
  const sig = sign(null, signedData(namespace, "sha512", message), privateKey);
  const blob = Buffer.concat([
    Buffer.from("SSHSIG"),
    Buffer.from([0, 0, 0, 1]),
    sshString(publicBlob),
    sshString(namespace),
    sshString(""),
    sshString("sha512"),
    sshString(Buffer.concat([sshString("ssh-ed25519"), sshString(sig)])),
  ]);
  const b64 = blob
    .toString("base64")
    .match(/.{1,70}/g)!
    .join("\n");
  return `-----BEGIN SSH SIGNATURE-----\n${b64}\n-----END SSH SIGNATURE-----`;
}

/** A repository of `count` signed commits, each changing one of 100 files; cached by count. */
export function signedHistory(cacheDir: string, count: number): SignedHistory {
  const dir = join(cacheDir, `signed-history-${count}`);
  const result = { dir, allowedSigners: join(dir, "allowed_signers"), publicKey: join(dir, "key.pub"), commits: count };
  if (existsSync(join(dir, "complete"))) return result;
  rmSync(dir, { recursive: true, force: true });
  const tmp = dir + ".tmp";
  rmSync(tmp, { recursive: true, force: true });
  execFileSync("git", ["init", "-q", "-b", "main", tmp]);
  const gitDir = join(tmp, ".git");

  const { privateKey, publicBlob, publicLine } = sshKeyPair("bench@example.com");

  const files = new Map<string, Buffer>();
  let parent: string | null = null;
  for (let i = 0; i < count; i++) {
    files.set(`app-${i % 100}.yaml`, writeObject(gitDir, "blob", Buffer.from(`replicas: ${i}\n`)));
    const staging = writeObject(gitDir, "tree", tree([...files].map(([name, id]) => ({ mode: "100644", name, id }))));
    const envs = writeObject(gitDir, "tree", tree([{ mode: "40000", name: "staging", id: staging }]));
    const root = writeObject(gitDir, "tree", tree([{ mode: "40000", name: "envs", id: envs }]));
    const time = 1_700_000_000 + i * 60;
    const payload: string =
      `tree ${root.toString("hex")}\n${parent ? `parent ${parent}\n` : ""}` +
      `author Bench <bench@example.com> ${time} +0000\ncommitter Bench <bench@example.com> ${time} +0000\n`;
    const message = `\nOPS-${i}: scale app-${i % 100}\n`;
    const signature = sshsig(privateKey, publicBlob, Buffer.from(payload + message));
    const commit: string = payload + "gpgsig " + signature.split("\n").join("\n ") + "\n" + message;
    parent = writeObject(gitDir, "commit", Buffer.from(commit)).toString("hex");
  }
  execFileSync("git", ["-C", tmp, "update-ref", "refs/heads/main", parent!]);
  execFileSync("git", ["-C", tmp, "repack", "-adq"]);
  writeFileSync(join(tmp, "key.pub"), publicLine + "\n");
  writeFileSync(join(tmp, "allowed_signers"), `bench@example.com ${publicLine}\n`);
  writeFileSync(join(tmp, "complete"), "");
  renameSync(tmp, dir);
  return result;
}
