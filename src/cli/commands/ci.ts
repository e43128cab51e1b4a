// vigil ci IMAGE: the CI half of the path in one command (src/ci): SBOM → scan (the gate) → sign →
// attest the SBOM and the job's SLSA provenance → pushed, with one exit code and one summary.
import { readFileSync } from "node:fs";
import { isOneOf } from "../options.ts";
import { InputError } from "../../core/errors.ts";
import { runCi, type CiResult } from "../../ci/pipeline.ts";
import { detectCi } from "../../ci/provenance.ts";
import { keySigner, type ImageSigner } from "../../ci/signer.ts";
import { parseReference } from "../../oci/index.ts";
import { loadPrivateKeyFile } from "../../sigstore/keys.ts";
import { defaultDbLocation, loadVex, openStore, THRESHOLDS, unknownSeverityOf, type Rating5, type VexStatement } from "../../vuln/index.ts";
import { defineCommand, type Values } from "../command.ts";
import { writeOutputFile } from "../output-file.ts";
import { verdictSink } from "../output.ts";
import { keyPassword } from "../password.ts";
import { registryClient, registryClientHelp, registryClientOptions } from "../registry-client.ts";

export const ci = defineCommand({
  usage:
    "vigil ci IMAGE (--key FILE | --keyless [--signing-config FILE]) [--fail-on SEVERITY] [--unknown-severity fail|warn] [--vex FILE]... [--db DIR|URL] [--no-provenance] [--sbom-output FILE] [--allow-http-registry] [--json]",
  help: [
    "  IMAGE                  the image as the build pushed it (registry/repository[:tag][@digest]); the tag is",
    "                         resolved once and every step is about that digest",
    "  --key FILE             cosign private key (password from COSIGN_PASSWORD)",
    "  --keyless              a short-lived Fulcio certificate for the CI's OIDC identity, logged in Rekor: the token",
    "                         from SIGSTORE_ID_TOKEN (GitLab id_tokens) or GitHub Actions' ID-token request",
    "  --signing-config FILE  Sigstore signing config (signing_config.v0.2 JSON) naming the Fulcio and Rekor URLs",
    "                         (default: SIGSTORE_SIGNING_CONFIG, else required with --keyless)",
    "  --fail-on SEVERITY     low, medium, high (default) or critical: a finding at or above it blocks, and nothing",
    "                         is signed; findings that cannot be judged always block",
    "  --unknown-severity fail|warn  a finding whose advisory gives no severity blocks (fail, the default) or warns",
    "  --vex FILE             OpenVEX or CycloneDX VEX: not_affected and fixed statements suppress findings (repeatable)",
    "  --db DIR|URL           vulnerability database (default $VIGIL_DB, else ~/.cache/vigil/vulndb); vigil db import fills it",
    "  --no-provenance        attest no SLSA provenance (needed outside GitHub Actions and GitLab CI, where there is none)",
    "  --platform OS/ARCH     the platform whose SBOM is made, for a multi-platform image (the index is signed)",
    "  --sbom-output FILE     also write the CycloneDX SBOM that was scanned and attested to FILE",
    registryClientHelp,
    "",
    "  Registry credentials come from docker's config.json; no cluster credentials are needed.",
    "  Exit codes: 0 signed and attested; 1 blocked by the scan (nothing pushed) or content that failed its digest;",
    "  2 bad input (the option, file or CI variable is named); 3 the registry, database, Fulcio or Rekor was unavailable.",
  ].join("\n"),
  options: {
    key: { type: "string" },
    keyless: { type: "boolean" },
    "signing-config": { type: "string" },
    "fail-on": { type: "string" },
    "unknown-severity": { type: "string" },
    vex: { type: "string", multiple: true },
    db: { type: "string" },
    "no-provenance": { type: "boolean" },
    platform: { type: "string" },
    "sbom-output": { type: "string" },
    ...registryClientOptions,
  },
  positionals: true,
  async run(values, positionals) {
    if (positionals.length !== 1) throw new InputError(`give exactly one IMAGE\nusage: ${this.usage}`);
    const image = positionals[0]!;
    const reference = parseReference(image);
    const failOn = failOnOf(values);
    const unknownSeverity = unknownSeverityOf(values, this.usage);
    const vex = vexOf(values);
    const ciPlatform = values["no-provenance"] ? undefined : detectCi(process.env);
    if (!values["no-provenance"] && !ciPlatform) {
      throw new InputError(
        "no CI here to take provenance from (neither GITHUB_ACTIONS=true nor GITLAB_CI=true): run in GitHub Actions or GitLab CI, or give --no-provenance",
      );
    }
    const signer = await signerOf(values, this.usage);
    const store = await openStore(values.db ?? defaultDbLocation());
    const client = registryClient(values, [reference]);
    let result: CiResult;
    try {
      result = await runCi({
        client,
        image,
        signer,
        store,
        failOn,
        unknownSeverity,
        vex,
        toolVersion: version(),
        ...(ciPlatform && { ci: ciPlatform }),
        ...(typeof values.platform === "string" && { platform: values.platform }),
        ...(!values.json && { step: (name: string) => process.stderr.write(`vigil ci: ${name}…\n`) }),
      });
    } finally {
      await client.close();
      await store.close();
    }
    if (typeof values["sbom-output"] === "string") writeOutputFile(values["sbom-output"], result.sbom);
    const sink = verdictSink({ ...result.verdict.subject, pinned: result.pinned }, values.json === true);
    result.verdict.checks.forEach((c) => sink.add(c));
    return sink.end() === "pass" ? 0 : 1;
  },
});

function failOnOf(values: Values<typeof ci.options>): Rating5 {
  const failOn = values["fail-on"] ?? "high";
  if (!isOneOf(failOn, THRESHOLDS))
    throw new InputError(`--fail-on must be one of ${THRESHOLDS.join(", ")} (got ${JSON.stringify(failOn)})`);
  return failOn;
}

function vexOf(values: Values<typeof ci.options>): VexStatement[] {
  const statements: VexStatement[] = [];
  for (const path of values.vex ?? []) statements.push(...loadVex(path, statements.length));
  return statements;
}

async function signerOf(values: Values<typeof ci.options>, usage: string): Promise<ImageSigner> {
  const key = values.key;
  if (key !== undefined && values.keyless) throw new InputError(`give --key or --keyless, not both\nusage: ${usage}`);
  if (key !== undefined) {
    if (key === "") throw new InputError(`--key needs a file\nusage: ${usage}`);
    if (values["signing-config"])
      throw new InputError("--signing-config is for --keyless; a key signature has no certificate or log entry to make");
    return keySigner(loadPrivateKeyFile(key, await keyPassword("decrypt")));
  }
  if (!values.keyless) throw new InputError(`give --key FILE or --keyless\nusage: ${usage}`);
  const { keylessSigner } = await import("../../ci/keyless.ts");
  const configPath = values["signing-config"] ?? process.env.SIGSTORE_SIGNING_CONFIG;
  if (!configPath)
    throw new InputError(
      "--keyless needs a Sigstore signing config naming Fulcio and Rekor: give --signing-config FILE or set SIGSTORE_SIGNING_CONFIG",
    );
  return keylessSigner({ signingConfigPath: configPath, env: process.env });
}

function version(): string {
  return (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}
