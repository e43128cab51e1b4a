// The CI half of the path (README.md): from a built image in a registry to a signed, attested, scanned
// artifact, in one pass over one digest. The tag is resolved once and every step is about that digest:
//   1. SBOM: the image's layers read once by src/sbom, written as CycloneDX 1.6;
//   2. scan: that very SBOM against the vulnerability database (src/vuln), with VEX; this is the gate:
//      a finding at or above --fail-on blocks, and nothing is signed;
//   3. sign the digest, attest the SBOM (https://cyclonedx.org/bom) and the SLSA provenance of the CI job,
//      each pushed to the registry as the signer (key or keyless) does it.
// The result is a verdict: one check per step (gate "ci") with the scan's own checks between them.
import { check, makeVerdict, type Check, type Verdict } from "../core/verdict.ts";
import { formatReference, parseReference, type ImageReference, type RegistryClient } from "../oci/index.ts";
import { toCycloneDx } from "../sbom/cyclonedx.ts";
import { generateInventory } from "../sbom/generate.ts";
import { PREDICATE_TYPES } from "../sigstore/intoto.ts";
import { readSbomDocument } from "../vuln/inputs.ts";
import { scanChecks, scanComponents } from "../vuln/scan.ts";
import type { Rating5, UnknownSeverity } from "../vuln/severity.ts";
import type { AdvisoryStore } from "../vuln/store.ts";
import type { VexStatement } from "../vuln/vex.ts";
import { SLSA_PROVENANCE_V1, type CiPlatform } from "./provenance.ts";
import type { ImageSigner } from "./signer.ts";

export const GATE = "ci";
/** The steps that push to the registry, in the order the summary lists them. */
const PUBLISH_STEPS = ["sign", "attest-sbom", "attest-provenance"] as const;

export interface CiOptions {
  client: RegistryClient;
  /** The image as built and pushed: registry/repository[:tag][@digest]. */
  image: string;
  signer: ImageSigner;
  store: AdvisoryStore;
  failOn: Rating5;
  /** What a finding without any severity figure does (default fail). */
  unknownSeverity?: UnknownSeverity;
  vex?: VexStatement[];
  /** The CI job's provenance; undefined only when the caller chose not to attest one. */
  ci?: CiPlatform;
  /** For a multi-platform image: the platform whose SBOM is made (the index is what is signed). */
  platform?: string;
  /** Vigil's version, recorded in the SBOM as the tool that made it. */
  toolVersion: string;
  /** Called as each step starts, for a log a person watches. */
  step?: (name: string) => void;
}

export interface CiResult {
  verdict: Verdict;
  /** registry/repository@digest: what was scanned, signed and attested. */
  pinned: string;
  digest: string;
  /** The CycloneDX SBOM that was scanned and attested. */
  sbom: string;
  /** Digests of what was pushed, by step. */
  pushed: Record<string, string>;
}

export async function runCi(options: CiOptions): Promise<CiResult> {
  const ref = parseReference(options.image);
  options.step?.("resolve");
  const digest = ref.digest ?? (await options.client.repository(ref).resolve(ref.tag ?? "latest")).digest;
  const pinnedRef: ImageReference = { registry: ref.registry, repository: ref.repository, digest };
  const pinned = formatReference(pinnedRef);
  const subject = {
    image: options.image,
    digest,
    failOn: options.failOn,
    signer: options.signer.description,
    ...(options.ci && { run: options.ci.runUrl }),
  };

  options.step?.("sbom");
  const inventory = await generateInventory(`registry:${pinned}`, {
    client: () => options.client,
    ...(options.platform && { platform: options.platform }),
  });
  const sbom = toCycloneDx(inventory, options.toolVersion);
  const checks: Check[] = [
    check({
      gate: GATE,
      rule: "sbom",
      status: "pass",
      subject: pinned,
      message: `${inventory.components.length} components (CycloneDX 1.6)${inventory.warnings.length ? `; ${inventory.warnings.length} warnings: ${inventory.warnings.slice(0, 3).join("; ")}` : ""}`,
      code: "sbom-generated",
    }),
  ];

  options.step?.("scan");
  const input = readSbomDocument(JSON.parse(sbom), `the SBOM of ${pinned}`);
  const scanned = await scanComponents(options.store, input.components, options.vex ?? [], input.withoutPurl);
  checks.push(...scanChecks(scanned, options.failOn, pinned, options.unknownSeverity));
  const pushed: Record<string, string> = {};
  if (checks.some((c) => c.status === "fail")) {
    const why = "not done: the scan blocked this image (fix or upgrade what it names, or record a VEX statement), so nothing was signed";
    for (const rule of PUBLISH_STEPS)
      checks.push(check({ gate: GATE, rule, status: "skip", subject: pinned, message: why, code: "not-published" }));
    return { verdict: makeVerdict(subject, checks), pinned, digest, sbom, pushed };
  }

  options.step?.("sign and attest");
  // The three pushes are independent referrers of the same digest: made at once.
  const [signed, sbomAttested, provenanceAttested] = await Promise.all([
    options.signer.sign(options.client, pinnedRef),
    options.signer.attest(options.client, pinnedRef, JSON.parse(sbom), PREDICATE_TYPES.cyclonedx),
    options.ci ? options.signer.attest(options.client, pinnedRef, options.ci.predicate, SLSA_PROVENANCE_V1) : undefined,
  ]);
  pushed.sign = signed.pushed.digest;
  pushed["attest-sbom"] = sbomAttested.pushed.digest;
  checks.push(
    check({
      gate: GATE,
      rule: "sign",
      status: "pass",
      subject: pinned,
      message: `signed by ${options.signer.description}; pushed ${signed.pushed.digest}`,
      code: "signed",
    }),
  );
  checks.push(
    check({
      gate: GATE,
      rule: "attest-sbom",
      status: "pass",
      subject: pinned,
      message: `${PREDICATE_TYPES.cyclonedx} attested; pushed ${sbomAttested.pushed.digest}`,
      code: "sbom-attested",
    }),
  );
  if (provenanceAttested && options.ci) {
    pushed["attest-provenance"] = provenanceAttested.pushed.digest;
    checks.push(
      check({
        gate: GATE,
        rule: "attest-provenance",
        status: "pass",
        subject: pinned,
        message: `${SLSA_PROVENANCE_V1} of ${options.ci.runUrl} (${options.ci.name}) attested; pushed ${provenanceAttested.pushed.digest}`,
        code: "provenance-attested",
      }),
    );
  } else {
    checks.push(
      check({
        gate: GATE,
        rule: "attest-provenance",
        status: "skip",
        subject: pinned,
        message: "no provenance attested (--no-provenance)",
        code: "provenance-skipped",
      }),
    );
  }
  return { verdict: makeVerdict(subject, checks), pinned, digest, sbom, pushed };
}
