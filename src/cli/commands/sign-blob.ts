import { writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { InputError } from "../../core/errors.ts";
import { bundleToJson, keyDsseBundle, keyMessageBundle } from "../../sigstore/bundle.ts";
import { signEnvelope } from "../../sigstore/dsse.ts";
import { COSIGN_PREDICATE_TYPES, INTOTO_PAYLOAD_TYPE, PREDICATE_TYPES, makeStatement, predicateTypeOf } from "../../sigstore/intoto.ts";
import { describeKey, loadPrivateKeyFile, signData } from "../../sigstore/keys.ts";
import { keyPassword } from "../password.ts";
import { required, defineCommand } from "../command.ts";
import { ARTIFACT_INPUT_CAP, readInputFile } from "../../core/input-file.ts";

export const signBlob = defineCommand({
  usage: "vigil sign blob FILE --key FILE [--bundle OUT] [--output-signature OUT] [--json]",
  help: [
    "  FILE                      the file to sign",
    "  --key FILE                cosign private key (password from COSIGN_PASSWORD, else asked)",
    "  --bundle OUT              write a Sigstore bundle (v0.3, message signature, no log entry: offline)",
    "  --output-signature OUT    write the base64 signature (cosign's detached form); printed when neither is given",
  ].join("\n"),
  options: { key: { type: "string" }, bundle: { type: "string" }, "output-signature": { type: "string" } },
  positionals: true,
  async run(values, positionals) {
    const file = onePositional(positionals, this.usage);
    const artifact = readInputFile(file, "the file", ARTIFACT_INPUT_CAP);
    const key = loadPrivateKeyFile(required(values, "key", this), await keyPassword("decrypt"));
    const signature = signData(key, artifact);
    const digest = createHash("sha256").update(artifact).digest();
    if (values.bundle) {
      const bundle = keyMessageBundle({ artifact, signature, key: key.publicKey });
      writeFileSync(values.bundle, JSON.stringify(bundleToJson(bundle)) + "\n");
    }
    if (values["output-signature"]) writeFileSync(values["output-signature"], signature.toString("base64"));
    report(values, {
      file,
      sha256: digest.toString("hex"),
      key: describeKey(key.publicKey),
      bundle: values.bundle,
      signature: signature.toString("base64"),
    });
    return 0;
  },
});

export const attestBlob = defineCommand({
  usage: "vigil attest blob FILE --key FILE --predicate FILE --type TYPE --bundle OUT [--json]",
  help: [
    "  FILE               the subject of the statement",
    "  --key FILE         cosign private key (password from COSIGN_PASSWORD, else asked)",
    "  --predicate FILE   the predicate (JSON): an SBOM, SLSA provenance…",
    `  --type TYPE        predicate type URI, or one of ${Object.keys({ ...PREDICATE_TYPES, ...COSIGN_PREDICATE_TYPES }).join(", ")}`,
    "  --bundle OUT       where to write the Sigstore bundle (v0.3, DSSE, no log entry: offline)",
  ].join("\n"),
  options: { key: { type: "string" }, predicate: { type: "string" }, type: { type: "string" }, bundle: { type: "string" } },
  positionals: true,
  async run(values, positionals) {
    const file = onePositional(positionals, this.usage);
    const artifact = readInputFile(file, "the file", ARTIFACT_INPUT_CAP);
    const predicateType = predicateTypeOf(required(values, "type", this));
    const predicate = readPredicate(required(values, "predicate", this));
    const out = required(values, "bundle", this);
    const key = loadPrivateKeyFile(required(values, "key", this), await keyPassword("decrypt"));
    const digest = `sha256:${createHash("sha256").update(artifact).digest("hex")}`;
    const statement = makeStatement([{ name: file, digest }], predicateType, predicate);
    const envelope = signEnvelope(INTOTO_PAYLOAD_TYPE, statement, [{ key, keyid: "" }]);
    writeFileSync(out, JSON.stringify(bundleToJson(keyDsseBundle(envelope, key.publicKey))) + "\n");
    report(values, { file, subject: digest, predicateType, key: describeKey(key.publicKey), bundle: out });
    return 0;
  },
});

function onePositional(positionals: string[], usage: string): string {
  if (positionals.length !== 1) throw new InputError(`give exactly one FILE to sign\nusage: ${usage}`);
  return positionals[0]!;
}

export function readPredicate(file: string): unknown {
  try {
    return JSON.parse(readInputFile(file, "the file").toString("utf8"));
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${file}: the predicate is not JSON (${(e as Error).message})`);
  }
}

function report(values: Record<string, unknown>, summary: Record<string, unknown>): void {
  if (values.json) process.stdout.write(JSON.stringify(summary) + "\n");
  else if (!summary.bundle && !values["output-signature"]) process.stdout.write(`${summary.signature}\n`);
  else process.stderr.write(`signed ${summary.file} with ${summary.key}${summary.bundle ? `; bundle written to ${summary.bundle}` : ""}\n`);
}
