// The vulnerability gate: the images a revision would run, pinned by digest, judged by their SBOMs (the
// predicates of their verified CycloneDX or SPDX attestations) against the advisory store, with the
// environment's threshold and VEX. A finding at or above the threshold, one that cannot be judged, or
// an image without an SBOM blocks the revision; everything else passes with what was checked.
import { imageUses } from "../artifact/images.ts";
import type { ImageRequirements } from "../artifact/verify-image.ts";
import { InputError } from "../core/errors.ts";
import type { RegistryClient } from "../oci/registry.ts";
import type { SourcedObject } from "../manifest/manifests.ts";
import { check, type Check } from "../core/verdict.ts";
import { PREDICATE_TYPES } from "../sigstore/intoto.ts";
import { readSbomDocument } from "./inputs.ts";
import { findingCheck, GATE } from "./scan.ts";
import type { Rating5, UnknownSeverity } from "./severity.ts";
import type { AdvisoryStore } from "./store.ts";
import type { VexStatement } from "./vex.ts";
import { openKeptStore, scanRemembered } from "./kept-store.ts";
import { loadVexFiles, vexSignerPolicy, type VexSignatureConfig } from "./vex-signature.ts";
import type { TrustedRoot } from "../trust/trusted-root.ts";
import type { KindDeclaration } from "../manifest/workloads.ts";

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
  /** What a finding without any severity figure does (default "fail"). */
  unknownSeverity?: UnknownSeverity;
  /** The environment's VEX statements (loaded, and verified when the environment requires them signed). */
  vex?: VexStatement[];
  /** The checks of the VEX signatures when they are required: a failing one blocks the revision. */
  vexChecks?: Check[];
  /** The image's SBOM document, or undefined when it has none. */
  sbomFor(image: GateImage): Promise<unknown>;
}

/** The SBOM among an image's verified attestations (artifact gate's ImageVerification.attestations). */
export function sbomFromAttestations(attestations: readonly { predicateType: string; predicate?: unknown }[]): unknown {
  return attestations.find((a) => a.predicateType === PREDICATE_TYPES.cyclonedx || a.predicateType === PREDICATE_TYPES.spdx)?.predicate;
}

/**
 * The images of a set the artifact gate pinned (image@digest), once each; an unpinned image is an error
 * of the caller. `kinds`: the trust policy's declarations, so images where it says a kind keeps them count.
 */
export function pinnedImages(objects: readonly SourcedObject[], kinds: readonly KindDeclaration[] = []): GateImage[] {
  return imageUses(objects, kinds).map((use) => {
    if (!use.reference.digest) throw new Error(`${use.where}: ${use.image} is not pinned to a digest: run the artifact gate first`);
    return { image: use.image, digest: use.reference.digest };
  });
}

/**
 * Images' SBOMs as the agent takes them (src/sbom's sbomForImage): the CycloneDX or SPDX attestation
 * whose signature verifies against the image's trust rules, else one generated from the image itself.
 */
export function registrySboms(options: {
  client: RegistryClient;
  trustFor(image: GateImage): Omit<ImageRequirements, "attestations"> | undefined;
  cacheDir?: string;
  toolVersion: string;
}): (image: GateImage) => Promise<unknown> {
  return async (image) => {
    const [{ sbomForImage }, { toCycloneDx }] = await Promise.all([import("../sbom/for-image.ts"), import("../sbom/cyclonedx.ts")]);
    const trust = options.trustFor(image);
    const found = await sbomForImage(`${image.image.split("@")[0]}@${image.digest}`, {
      client: options.client,
      ...(trust && { trust }),
      ...(options.cacheDir && { cacheDir: options.cacheDir }),
    });
    return JSON.parse(toCycloneDx(found.inventory, options.toolVersion));
  };
}

export async function vulnerabilityGate(images: readonly GateImage[], options: VulnerabilityGateOptions): Promise<Check[]> {
  const checks: Check[] = [...(options.vexChecks ?? [])];
  const seen = new Set<string>();
  for (const image of images) {
    if (seen.has(image.digest)) continue;
    seen.add(image.digest);
    const where = `${image.image.split("@")[0]}@${image.digest}`;
    const sbom = await options.sbomFor(image);
    if (sbom === undefined) {
      checks.push(
        check({
          gate: GATE,
          rule: "sbom",
          status: "fail",
          subject: where,
          message: `no verified SBOM for this image, so its vulnerabilities cannot be judged: attest a CycloneDX or SPDX SBOM (vigil attest / cosign attest --type cyclonedx) and require it in the trust policy's images rule`,
          code: "sbom-missing",
        }),
      );
      continue;
    }
    let read;
    try {
      read = readSbomDocument(sbom, `the SBOM attested for ${where}`);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      checks.push(check({ gate: GATE, rule: "sbom", status: "fail", subject: where, message: e.message, code: "sbom-invalid" }));
      continue;
    }
    const result = await scanRemembered(
      options.store,
      { document: sbom, components: read.components, withoutPurl: read.withoutPurl },
      options.vex ?? [],
    );
    const found = result.findings.map((f) => {
      const c = findingCheck(f, options.failOn, options.unknownSeverity);
      return { ...c, message: `in ${where}: ${c.message}` };
    });
    checks.push(...found);
    const failing = found.filter((c) => c.status === "fail").length;
    const uncovered = result.notCovered.length + result.withoutPurl.length;
    checks.push(
      check({
        gate: GATE,
        rule: "image",
        status: failing > 0 ? "fail" : "pass",
        subject: where,
        message: `${result.components} components: ${failing} finding${failing === 1 ? "" : "s"} at or above ${options.failOn} or not judgeable, ${found.filter((c) => c.status === "warn").length} below, ${found.filter((c) => c.status === "skip").length} suppressed by VEX${uncovered > 0 ? `, ${uncovered} not covered by any OSV ecosystem` : ""}`,
        code: failing > 0 ? "vulnerabilities-over-threshold" : "vulnerabilities-within-threshold",
      }),
    );
  }
  if (seen.size === 0)
    checks.push(
      check({
        gate: GATE,
        rule: "image",
        status: "pass",
        subject: "(no images)",
        message: "the revision runs no images",
        code: "no-images",
      }),
    );
  return checks;
}

/** An environment's vulnerability settings as the agent configuration gives them (paths absolute). */
export interface EnvironmentVulnerabilityConfig {
  db: string;
  failOn: Rating5;
  unknownSeverity?: UnknownSeverity;
  vex?: string[];
  /** Every VEX file must be signed by this signer (a bundle FILE.sigstore.json beside it). */
  vexSignature?: VexSignatureConfig;
}

/**
 * What the gate needs for one reconcile of an environment, but the SBOM source: the database kept open
 * between reconciles (kept-store.ts), the threshold, and the VEX statements, verified first when the
 * environment requires them signed. `where` names the configuration field in errors.
 */
export async function environmentGateInputs(
  config: EnvironmentVulnerabilityConfig,
  where: string,
  trustedRoot?: TrustedRoot,
): Promise<Omit<VulnerabilityGateOptions, "sbomFor"> & { close(): Promise<void> }> {
  const signer = config.vexSignature ? vexSignerPolicy(config.vexSignature, `${where}.vexSignature`, trustedRoot) : undefined;
  const { statements, checks } = loadVexFiles(config.vex ?? [], signer);
  const store = await openKeptStore(config.db);
  return {
    store,
    failOn: config.failOn,
    ...(config.unknownSeverity && { unknownSeverity: config.unknownSeverity }),
    vex: statements,
    vexChecks: checks,
    close: () => store.close(),
  };
}
