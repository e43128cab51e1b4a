import { existsSync, readFileSync } from "node:fs";
import { InputError } from "../../core/errors.ts";
import { makeVerdict } from "../../core/verdict.ts";
import { loadPublicKeyFile } from "../../sigstore/keys.ts";
import type { TrustedRoot } from "../../trust/trusted-root.ts";
import { isOneOf, trustedRootOption } from "../options.ts";
import type { SignerPolicy } from "../../sigstore/verify.ts";
import { toCycloneDxVex } from "../../vuln/cyclonedx-vex.ts";
import { defaultDbLocation, openStore, scanChecks, scanComponents, THRESHOLDS, unknownSeverityOf } from "../../vuln/index.ts";
import { readSbomDocument, type ReadInput } from "../../vuln/inputs.ts";
import { readTarget } from "../../vuln/targets.ts";
import { loadVexFiles } from "../../vuln/vex-signature.ts";
import { verdictSink } from "../output.ts";
import { toSarif } from "../sarif.ts";
import { defineCommand, type Values } from "../command.ts";
import { registryClient, registryClientHelp, registryClientOptions } from "../registry-client.ts";

const formats = ["table", "json", "sarif", "cyclonedx-vex"] as const;

export const scan = defineCommand({
  usage:
    "vigil scan SBOM|LOCKFILE|DIR|IMAGE... [--db DIR|URL] [--vex FILE]... [--fail-on low|medium|high|critical] [--unknown-severity fail|warn] [-o table|json|sarif|cyclonedx-vex]",
  help: [
    "  SBOM|LOCKFILE|DIR     CycloneDX 1.4-1.6 or SPDX 2.3 JSON, a lockfile (package-lock.json, requirements.txt,",
    "                        Cargo.lock, Gemfile.lock, composer.lock, go.mod), or a folder searched for them",
    "  IMAGE                 an image reference, or registry:, oci-layout:, docker-archive:, dir: as vigil sbom takes",
    "                        them: its SBOM is made by vigil sbom's generator and scanned",
    "  --db DIR|URL          the database (default $VIGIL_DB, else ~/.cache/vigil/vulndb) or a postgres:// URL",
    "  --vex FILE            OpenVEX or CycloneDX VEX: not_affected and fixed statements suppress findings (repeatable)",
    "  --fail-on SEVERITY    fail at or above it (default high); below it a finding warns. Findings that cannot",
    "                        be judged always fail",
    "  --unknown-severity fail|warn  what a finding whose advisory gives no severity does (default fail: it may be",
    "                        critical; warn as Grype does, where Go, PyPI and Alpine advisories carry none)",
    "  -o, --output FORMAT   table (default), json (the verdict), sarif, cyclonedx-vex",
    "  --vex-key FILE        require every --vex to be signed by this key (bundle FILE.sigstore.json beside it)",
    "  --vex-certificate-identity ID --vex-certificate-oidc-issuer URL",
    "                        ... or by this Sigstore identity (with --trusted-root)",
    "  --trusted-root FILE   Sigstore trusted_root.json for VEX signatures",
    "  --vex-insecure-ignore-tlog  accept key-signed VEX bundles without a transparency-log entry",
    registryClientHelp,
  ].join("\n"),
  options: {
    db: { type: "string" },
    vex: { type: "string", multiple: true },
    "fail-on": { type: "string" },
    "unknown-severity": { type: "string" },
    output: { type: "string", short: "o" },
    "vex-key": { type: "string" },
    "vex-certificate-identity": { type: "string" },
    "vex-certificate-oidc-issuer": { type: "string" },
    "trusted-root": { type: "string" },
    "vex-insecure-ignore-tlog": { type: "boolean" },
    ...registryClientOptions,
  },
  positionals: true,
  async run(values, positionals) {
    const format = values.json ? "json" : (values.output ?? "table");
    if (!isOneOf(format, formats)) throw new InputError(`-o must be one of ${formats.join(", ")}\nusage: ${this.usage}`);
    if (positionals.length === 0) throw new InputError(`give an SBOM, a lockfile or a folder to scan\nusage: ${this.usage}`);
    const failOn: string = values["fail-on"] ?? "high";
    if (!isOneOf(failOn, THRESHOLDS))
      throw new InputError(`--fail-on must be one of ${THRESHOLDS.join(", ")} (got ${JSON.stringify(values["fail-on"])})`);
    const unknownSeverity = unknownSeverityOf(values, this.usage);
    const inputs: ReadInput[] = [];
    for (const target of positionals) inputs.push(...(generated(target) ? [await generatedSbom(target, values)] : readTarget(target)));
    const { statements: vex, checks: signatureChecks } = loadVexFiles(values.vex ?? [], vexSigner(values, this.usage));
    const store = await openStore(values.db ?? defaultDbLocation());
    try {
      const result = await scanComponents(
        store,
        inputs.flatMap((i) => i.components),
        vex,
        inputs.flatMap((i) => i.withoutPurl),
      );
      const target = positionals.join(" ");
      const checks = [...signatureChecks, ...scanChecks(result, failOn, target, unknownSeverity)];
      const verdict = makeVerdict({ target, database: store.location, failOn, unknownSeverity }, checks);
      if (format === "sarif") process.stdout.write(JSON.stringify(toSarif(verdict, version()), null, 2) + "\n");
      else if (format === "cyclonedx-vex") process.stdout.write(JSON.stringify(toCycloneDxVex(result.findings, version()), null, 2) + "\n");
      else {
        const sink = verdictSink(verdict.subject, format === "json");
        checks.forEach((c) => sink.add(c));
        sink.end();
      }
      return verdict.verdict === "pass" ? 0 : 1;
    } finally {
      await store.close();
    }
  },
});

/** A prefixed target (vigil sbom's registry:, oci-layout:, docker-archive:, dir:) or an image reference, not a path here. */
function generated(target: string): boolean {
  return /^(registry|oci-layout|docker-archive|dir):/.test(target) || !existsSync(target);
}

/** The target's SBOM as vigil sbom makes it (src/sbom), read back as scan reads any CycloneDX SBOM. */
async function generatedSbom(target: string, values: Values<typeof scan.options>): Promise<ReadInput> {
  const [{ generateInventory }, { toCycloneDx }, { parseReference }] = await Promise.all([
    import("../../sbom/generate.ts"),
    import("../../sbom/cyclonedx.ts"),
    import("../../oci/index.ts"),
  ]);
  let client: ReturnType<typeof registryClient> | undefined;
  try {
    const inventory = await generateInventory(target, {
      client: () => (client ??= registryClient(values, [parseReference(target.replace(/^registry:/, ""))])),
    });
    return readSbomDocument(JSON.parse(toCycloneDx(inventory, version())), `the SBOM of ${target}`);
  } finally {
    await client?.close();
  }
}

function vexSigner(
  values: Values<typeof scan.options>,
  usage: string,
): { signer: SignerPolicy; trustedRoot?: TrustedRoot; requireTlog: boolean } | undefined {
  const identity = values["vex-certificate-identity"];
  const issuer = values["vex-certificate-oidc-issuer"];
  const trustedRoot = trustedRootOption(values);
  const requireTlog = values["vex-insecure-ignore-tlog"] !== true;
  if (values["vex-key"]) {
    if (identity || issuer) throw new InputError(`give --vex-key or a certificate identity, not both\nusage: ${usage}`);
    return {
      signer: { key: loadPublicKeyFile(values["vex-key"]), name: values["vex-key"] },
      ...(trustedRoot && { trustedRoot }),
      requireTlog,
    };
  }
  if (identity || issuer) {
    if (!identity || !issuer)
      throw new InputError(`give both --vex-certificate-identity and --vex-certificate-oidc-issuer\nusage: ${usage}`);
    return {
      signer: { identities: [{ subject: { exact: identity }, issuer: { exact: issuer } }] },
      ...(trustedRoot && { trustedRoot }),
      requireTlog,
    };
  }
  return undefined;
}

function version(): string {
  return (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}
