// The vulnerability gate: the images a revision would run, pinned by digest, judged by their SBOMs (the
// predicates of their verified CycloneDX or SPDX attestations) against the advisory store, with the
// environment's threshold and VEX. A finding at or above the threshold, one that cannot be judged, or
// an image without an SBOM blocks the revision; everything else passes with what was checked.
import { InputError } from "../core/errors.ts";
import { check, type Check } from "../core/verdict.ts";
import { PREDICATE_TYPES } from "../sigstore/intoto.ts";
import { readSbomDocument } from "./inputs.ts";
import { findingCheck, GATE, scanComponents } from "./scan.ts";
import type { Rating5 } from "./severity.ts";
import type { AdvisoryStore } from "./store.ts";
import type { VexStatement } from "./vex.ts";

export interface GateImage {
  /** As the manifests write it. */
  image: string;
  /** The digest the artifact gate verified and pinned. */
  digest: string;
}

export interface VulnerabilityGateOptions {
  store: AdvisoryStore;
  /** The environment's threshold. */
  failOn: Rating5;
  /** The environment's VEX statements (loaded, and verified when the environment requires them signed). */
  vex?: VexStatement[];
  /** The image's SBOM document, or undefined when it has none. */
  sbomFor(image: GateImage): Promise<unknown>;
}

/** The SBOM among an image's verified attestations (artifact gate's ImageVerification.attestations). */
export function sbomFromAttestations(attestations: readonly { predicateType: string; predicate?: unknown }[]): unknown {
  return attestations.find((a) => a.predicateType === PREDICATE_TYPES.cyclonedx || a.predicateType === PREDICATE_TYPES.spdx)?.predicate;
}

export async function vulnerabilityGate(images: readonly GateImage[], options: VulnerabilityGateOptions): Promise<Check[]> {
  const checks: Check[] = [];
  const seen = new Set<string>();
  for (const image of images) {
    if (seen.has(image.digest)) continue;
    seen.add(image.digest);
    const where = `${image.image.split("@")[0]}@${image.digest}`;
    const sbom = await options.sbomFor(image);
    if (sbom === undefined) {
      checks.push(check(GATE, "sbom", "fail", where, `no verified SBOM for this image, so its vulnerabilities cannot be judged: attest a CycloneDX or SPDX SBOM (vigil attest / cosign attest --type cyclonedx) and require it in the trust policy's images rule`));
      continue;
    }
    let read;
    try {
      read = readSbomDocument(sbom, `the SBOM attested for ${where}`);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      checks.push(check(GATE, "sbom", "fail", where, e.message));
      continue;
    }
    const result = await scanComponents(options.store, read.components, options.vex ?? [], read.withoutPurl);
    const found = result.findings.map((f) => {
      const c = findingCheck(f, options.failOn);
      return { ...c, message: `in ${where}: ${c.message}` };
    });
    checks.push(...found);
    const failing = found.filter((c) => c.status === "fail").length;
    const uncovered = result.notCovered.length + result.withoutPurl.length;
    checks.push(check(GATE, "image", failing > 0 ? "fail" : "pass", where,
      `${result.components} components: ${failing} finding${failing === 1 ? "" : "s"} at or above ${options.failOn} or not judgeable, ${found.filter((c) => c.status === "warn").length} below, ${found.filter((c) => c.status === "skip").length} suppressed by VEX${uncovered > 0 ? `, ${uncovered} not covered by any OSV ecosystem` : ""}`));
  }
  if (checks.length === 0) checks.push(check(GATE, "image", "pass", "(no images)", "the revision runs no images"));
  return checks;
}
