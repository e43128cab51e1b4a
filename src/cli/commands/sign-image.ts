import { InputError } from "../../core/errors.ts";
import { attestImage, signImage, type ImageSigning, type SignatureFormat } from "../../artifact/sign-image.ts";
import { parseReference, type ImageReference } from "../../oci/index.ts";
import { COSIGN_PREDICATE_TYPES, PREDICATE_TYPES, predicateTypeOf } from "../../sigstore/intoto.ts";
import { describeKey, loadPrivateKeyFile, type SigningKey } from "../../sigstore/keys.ts";
import { keyPassword } from "../password.ts";
import { readPredicate } from "./sign-blob.ts";
import { registryClient, registryClientHelp, registryClientOptions } from "../registry-client.ts";
import { required, defineCommand, type Command } from "../command.ts";

const FORMATS: Record<string, SignatureFormat> = { bundle: "bundle-referrer", legacy: "legacy" };
const formatHelp =
  "  --format bundle|legacy    bundle (default, cosign v3's): a Sigstore bundle attached as an OCI referrer;\n" +
  "                            legacy (cosign v2's): a layer in the sha256-<digest>.sig/.att tag";

export const signImageCommand = defineCommand({
  usage: "vigil sign IMAGE --key FILE [-a KEY=VALUE]... [--format bundle|legacy] [--allow-http-registry] [--json]",
  help: [
    "  Registry credentials come from docker's config.json. No transparency-log entry is made (offline):",
    "  cosign verifies it with --insecure-ignore-tlog. To sign a file instead: vigil sign blob --help.",
    "",
    "  IMAGE                     registry/repository[:tag][@digest]; a tag is resolved to its digest first",
    "  --key FILE                cosign private key (password from COSIGN_PASSWORD, else asked)",
    "  -a, --annotation K=V      an annotation to sign with it (repeatable; cosign verify -a checks them)",
    formatHelp,
    registryClientHelp,
  ].join("\n"),
  options: {
    key: { type: "string" },
    annotation: { type: "string", short: "a", multiple: true },
    format: { type: "string" },
    ...registryClientOptions,
  },
  positionals: true,
  async run(values, positionals) {
    const reference = oneImage(positionals, this.usage);
    const format = formatOf(values);
    const annotations = annotationsOf(values);
    const key = await signingKey(values, this);
    const result = await withClient(values, reference, (client) =>
      signImage(client, reference, key, { format, ...(annotations && { annotations }) }),
    );
    report(values, "signed", result, key);
    return 0;
  },
});

export const attestImageCommand = defineCommand({
  usage: "vigil attest IMAGE --predicate FILE --type TYPE --key FILE [--format bundle|legacy] [--allow-http-registry] [--json]",
  help: () =>
    [
      "  IMAGE                     registry/repository[:tag][@digest]; a tag is resolved to its digest first",
      "  --predicate FILE          the predicate (JSON): an SBOM, SLSA provenance…",
      `  --type TYPE               predicate type URI, or one of ${Object.keys({ ...PREDICATE_TYPES, ...COSIGN_PREDICATE_TYPES }).join(", ")}`,
      "  --key FILE                cosign private key (password from COSIGN_PASSWORD, else asked)",
      formatHelp,
      registryClientHelp,
    ].join("\n"),
  options: {
    key: { type: "string" },
    predicate: { type: "string" },
    type: { type: "string" },
    format: { type: "string" },
    ...registryClientOptions,
  },
  positionals: true,
  async run(values, positionals) {
    const reference = oneImage(positionals, this.usage);
    const format = formatOf(values);
    const predicateType = predicateTypeOf(required(values, "type", this));
    const predicate = readPredicate(required(values, "predicate", this));
    const key = await signingKey(values, this);
    const result = await withClient(values, reference, (client) =>
      attestImage(client, reference, predicate, predicateType, key, { format }),
    );
    report(values, `attested (${predicateType})`, result, key);
    return 0;
  },
});

function oneImage(positionals: string[], usage: string): ImageReference {
  if (positionals.length !== 1) throw new InputError(`give exactly one IMAGE\nusage: ${usage}`);
  return parseReference(positionals[0]!);
}

function formatOf(values: { format?: string | undefined }): SignatureFormat {
  const name = values.format ?? "bundle";
  const format = FORMATS[name];
  if (!format) throw new InputError(`--format must be bundle or legacy, not "${name}"`);
  return format;
}

function annotationsOf(values: { annotation?: string[] | undefined }): Record<string, string> | undefined {
  const given = values.annotation ?? [];
  if (given.length === 0) return undefined;
  return Object.fromEntries(
    given.map((text) => {
      const at = text.indexOf("=");
      if (at <= 0) throw new InputError(`--annotation must be KEY=VALUE, not "${text}"`);
      return [text.slice(0, at), text.slice(at + 1)];
    }),
  );
}

async function signingKey(values: Record<string, unknown>, cmd: Command): Promise<SigningKey> {
  const path = required(values, "key", cmd);
  return loadPrivateKeyFile(path, await keyPassword("decrypt"));
}

async function withClient<T>(
  values: Record<string, unknown>,
  reference: ImageReference,
  use: (client: ReturnType<typeof registryClient>) => Promise<T>,
): Promise<T> {
  const client = registryClient(values, [reference]);
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

function report(values: Record<string, unknown>, done: string, result: ImageSigning, key: SigningKey): void {
  const summary = { ...result, pushed: result.pushed.digest, key: describeKey(key.publicKey) };
  if (values.json) {
    process.stdout.write(JSON.stringify(summary) + "\n");
    return;
  }
  const where = result.tag ? `in ${result.tag}` : `as referrer ${result.pushed.digest}`;
  process.stderr.write(`${done} ${result.reference} at ${result.digest} with ${summary.key}; pushed ${where}\n`);
}
