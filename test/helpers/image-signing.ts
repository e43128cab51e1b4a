// Test support for signing images: one docker-registry for a test file, a client for it, cosign key
// pairs made by cosign itself, and cosign run offline against the loopback registry.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { anonymous } from "../../src/oci/docker-config.ts";
import { RegistryClient } from "../../src/oci/registry.ts";
import { decryptPrivateKey, type SigningKey } from "../../src/sigstore/keys.ts";
import { startRegistry, type TestRegistry } from "./registry.ts";
import { run, tempDir } from "./tools.ts";

export const COSIGN_PASSWORD = "correct horse battery staple";

export interface SigningRegistry {
  registry: TestRegistry;
  client: RegistryClient;
  /** A temporary folder for keys and predicates. */
  dir: string;
}

/** A registry and a client for the whole test file, stopped after its last test. */
export async function signingRegistry(scope: { after(fn: () => unknown): void }): Promise<SigningRegistry> {
  const registry = await startRegistry(scope);
  const client = new RegistryClient({ hosts: { [registry.host]: registry.hostOptions }, credentials: anonymous });
  scope.after(() => client.close());
  return { registry, client, dir: tempDir(scope) };
}

export interface CosignKeyPair {
  /** Paths of cosign.key and cosign.pub. */
  privatePath: string;
  publicPath: string;
  /** The public key's PEM text, as a trust policy holds it. */
  publicPem: string;
  signing: SigningKey;
}

/** A key pair made by `cosign generate-key-pair` in `dir` under `prefix`. */
export function cosignKeyPair(dir: string, prefix: string): CosignKeyPair {
  run("cosign", ["generate-key-pair", "--output-key-prefix", prefix], { cwd: dir, env: { COSIGN_PASSWORD } });
  const privatePath = join(dir, `${prefix}.key`);
  const publicPath = join(dir, `${prefix}.pub`);
  return {
    privatePath,
    publicPath,
    publicPem: readFileSync(publicPath, "utf8"),
    signing: decryptPrivateKey(readFileSync(privatePath, "utf8"), COSIGN_PASSWORD, privatePath),
  };
}

/** cosign with the key's password, never asking, never reaching the public Sigstore services. */
export function cosign(args: string[], cwd: string): string {
  return run("cosign", args, { cwd, env: { COSIGN_PASSWORD } });
}

/** Flags for cosign sign/attest offline against a plain-HTTP loopback registry, with a key and no log. */
export const COSIGN_OFFLINE_SIGNING = ["--tlog-upload=false", "--use-signing-config=false", "--allow-http-registry", "-y"];
/** Flags for cosign verify/verify-attestation of key signatures without log entries, over plain HTTP. */
export const COSIGN_OFFLINE_VERIFY = ["--insecure-ignore-tlog", "--allow-http-registry"];
