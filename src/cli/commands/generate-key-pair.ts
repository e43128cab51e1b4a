import { existsSync, writeFileSync } from "node:fs";
import { InputError } from "../../core/errors.ts";
import {
  DEFAULT_SIGNING_ALGORITHM,
  SIGNING_ALGORITHMS,
  describeKey,
  encryptPrivateKey,
  generateSigningKey,
  publicKeyPem,
  type SigningAlgorithm,
} from "../../sigstore/keys.ts";
import { keyPassword } from "../password.ts";
import { defineCommand } from "../command.ts";

export const generateKeyPair = defineCommand({
  usage: "vigil generate-key-pair [--output-key-prefix PREFIX] [--algorithm ALG] [--force] [--json]",
  help: [
    "  --output-key-prefix PREFIX  file names PREFIX.key and PREFIX.pub (default: cosign)",
    `  --algorithm ALG             ${Object.keys(SIGNING_ALGORITHMS).join(", ")} (default: ${DEFAULT_SIGNING_ALGORITHM})`,
    "  --force                     overwrite existing key files",
    "  The password comes from COSIGN_PASSWORD when set, else it is asked for on the terminal.",
  ].join("\n"),
  options: { "output-key-prefix": { type: "string" }, algorithm: { type: "string" }, force: { type: "boolean" } },
  async run(values) {
    const prefix = values["output-key-prefix"] ?? "cosign";
    const algorithm = values.algorithm ?? DEFAULT_SIGNING_ALGORITHM;
    if (!isSigningAlgorithm(algorithm)) {
      throw new InputError(`--algorithm must be one of ${Object.keys(SIGNING_ALGORITHMS).join(", ")}, not "${algorithm}"`);
    }
    const [keyFile, pubFile] = [`${prefix}.key`, `${prefix}.pub`];
    const existing = [keyFile, pubFile].filter((f) => existsSync(f));
    if (existing.length > 0 && !values.force)
      throw new InputError(`${existing.join(" and ")} already exist${existing.length === 1 ? "s" : ""}; pass --force to overwrite`);
    const password = await keyPassword("encrypt");
    const key = generateSigningKey(algorithm);
    writeFileSync(keyFile, encryptPrivateKey(key.privateKey, password), { mode: 0o600 });
    writeFileSync(pubFile, publicKeyPem(key.publicKey));
    const summary = { privateKey: keyFile, publicKey: pubFile, algorithm, key: describeKey(key.publicKey) };
    process.stdout.write(
      values.json ? JSON.stringify(summary) + "\n" : `Private key written to ${keyFile}\nPublic key written to ${pubFile}\n`,
    );
    return 0;
  },
});

function isSigningAlgorithm(name: string): name is SigningAlgorithm {
  return Object.hasOwn(SIGNING_ALGORITHMS, name);
}
