// The artifact gate: every image a set of manifests would run is resolved to a digest and verified
// against the trust policy's `images` rules (signers, required attestations), and the manifests are
// pinned to those digests, so the cluster runs exactly what was verified. An image no rule covers is
// blocked; running unsigned is something a rule must say (allowUnsigned), never a default.
import { PatternRules } from "../core/patterns.ts";
import type { TrustPolicy } from "../trust/policy.ts";
import type { TrustPolicyDocument } from "../api/trust-policy.ts";
import { check, type Admitted, type Check, type CheckCode } from "../core/verdict.ts";
import { VerificationFailure } from "../sigstore/failure.ts";
import { ExitCode, InputError, VigilError } from "../core/errors.ts";
import type { RegistryClient } from "../oci/registry.ts";
import { parseReference, type ImageReference } from "../oci/reference.ts";
import { describeObject, type SourcedObject } from "../manifest/manifests.ts";
import type { TrustedRoot } from "../trust/trusted-root.ts";
import { checkDeclarations, imageUses, pinImages, undeclaredKinds, type UndeclaredKind } from "./images.ts";
import { verifyImage, type ImageRequirements, type ImageSigner, type ImageVerification } from "./verify-image.ts";

export const GATE = "artifact";

type ImageRule = TrustPolicyDocument["images"][number];

export interface ImageGateOptions {
  policy: TrustPolicy;
  client: RegistryClient;
  /** Needed for rules with certificate identities (keyless signatures); read from a file, offline. */
  trustedRoot?: TrustedRoot;
  now?: Date;
}

/** An image to judge: as written, parsed, and where it was found (a container, or the command line). */
export interface ImageTarget {
  image: string;
  reference: ImageReference;
  where: string;
  location?: { file: string; line: number };
}

export interface ImageGateResult {
  checks: Check[];
  /** Image as written → the digest it was verified (or, under allowUnsigned, resolved) at. */
  digests: Map<string, string>;
  /** Some image could not be checked because a registry was unreachable (exit 3 rather than 1). */
  unavailable: boolean;
}

export interface ArtifactGateResult extends ImageGateResult {
  /** The manifests pinned to the verified digests; null when any image was blocked. */
  pinned: SourcedObject[] | null;
}

/** An image's outcome: the digest it may run at, or why it may not run. */
type Outcome =
  | { digest: string; message: string; admits: Admitted[]; code: CheckCode }
  | { blocked: string; code: CheckCode; unavailable?: boolean };

/**
 * The gate over manifests: every image they would run, judged, and the manifests pinned. A kind neither
 * Kubernetes nor the trust policy's `kinds` describes is blocked (its images could be anywhere); a set
 * without images says so in a check.
 */
export async function artifactChecks(manifests: readonly SourcedObject[], options: ImageGateOptions): Promise<ArtifactGateResult> {
  const declarations = options.policy.doc.kinds;
  checkDeclarations(declarations, (i, j) => options.policy.where(["kinds", i, "images", j]));
  const uses = imageUses(manifests, declarations);
  const result = await imageChecks(
    uses.map((u) => ({ ...u, location: { file: u.source.file, line: u.source.line } })),
    options,
  );
  const checks = [...result.checks, ...undeclaredKinds(manifests, declarations).map((u) => undeclaredKindCheck(u, options.policy))];
  if (manifests.length > 0 && checks.length === 0)
    checks.push(
      check({
        gate: GATE,
        rule: "image-signature",
        status: "pass",
        subject: "manifests",
        message: `the ${manifests.length} manifests run no images (no pod spec, container list or image volume)`,
        admits: [],
        code: "no-images",
      }),
    );
  const blocked = checks.some((c) => c.status === "fail");
  return { ...result, checks, pinned: blocked ? null : pinImages(manifests, result.digests, declarations) };
}

function undeclaredKindCheck(u: UndeclaredKind, policy: TrustPolicy): Check {
  const { object } = u.source;
  const hint =
    u.suspicious.length > 0
      ? `; fields that may hold images: ${u.suspicious.slice(0, 5).join(", ")}${u.suspicious.length > 5 ? ", …" : ""}`
      : "";
  const message =
    `${object.kind} (${u.group || "core"}) is not a Kubernetes kind and the trust policy does not say where its images are${hint}: ` +
    `add { group: "${u.group}", kind: ${object.kind} } under kinds in ${policy.source} with where its images are, as lists of field paths: ` +
    "images (image references), podSpecs (pod specs), containerLists (lists of containers) or containers (single containers); " +
    "or with carriesNoImages: true if it runs none";
  return {
    ...check({ gate: GATE, rule: "image-locations", status: "fail", subject: describeObject(object), message, code: "undeclared-kind" }),
    location: { file: u.source.file, line: u.source.line },
  };
}

/** Judges each image; each distinct one is verified once, all at once (the client bounds connections). */
export async function imageChecks(targets: readonly ImageTarget[], options: ImageGateOptions): Promise<ImageGateResult> {
  const rules = imageRules(options.policy);
  const distinct = [...new Map(targets.map((t) => [t.image, t])).values()];
  const outcomes = new Map(await Promise.all(distinct.map(async (t) => [t.image, await judge(t, rules, options)] as const)));
  return {
    checks: targets.map((t) => toCheck(t, outcomes.get(t.image)!)),
    digests: new Map([...outcomes].flatMap(([image, o]) => ("digest" in o ? [[image, o.digest] as const] : []))),
    unavailable: [...outcomes.values()].some((o) => "blocked" in o && o.unavailable === true),
  };
}

/** The policy's image rules, the most specific pattern deciding, matched against "registry/repository". */
export function imageRules(policy: TrustPolicy): PatternRules<ImageRule> {
  return new PatternRules(policy.doc.images.map((rule) => ({ pattern: rule.pattern, value: rule })));
}

/**
 * The trust rules an image's own attestations (its SBOM) are verified against: its images rule's signers,
 * without the rule's required attestations. None for an image no rule covers or that runs unsigned.
 */
export function imageSignersFor(
  image: string,
  input: Omit<ImageGateOptions, "client">,
): Omit<ImageRequirements, "attestations"> | undefined {
  const found = imageRules(input.policy).ruleFor(imageName(parseReference(image)));
  if (!found || found.value.allowUnsigned) return undefined;
  const { attestations: _, ...rest } = requirements(found.value, input as ImageGateOptions);
  return rest;
}

function imageName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

async function judge(use: ImageTarget, rules: PatternRules<ImageRule>, input: ImageGateOptions): Promise<Outcome> {
  const name = imageName(use.reference);
  const found = rules.ruleFor(name);
  if (!found) {
    return {
      blocked: `no rule in the trust policy's images covers ${name}: add one with its signers (or allowUnsigned: true) to ${input.policy.source}`,
      code: "no-image-rule",
    };
  }
  const rule = found.value;
  const ruleAt = input.policy.where(["images", found.index]);
  try {
    if (rule.allowUnsigned) {
      const { digest } = await input.client.resolve(use.reference);
      // Admitted by no key: said as an empty list, so a reader can tell it from a check it cannot read.
      return {
        digest,
        message: `runs unsigned, as the rule for ${rule.pattern} (${ruleAt}) allows; pinned to ${digest}`,
        admits: [],
        code: "unsigned-allowed",
      };
    }
    const verified = await verifyImage(input.client, use.reference, requirements(rule, input));
    return { digest: verified.digest, message: describe(verified, rule, ruleAt), admits: admitted(verified), code: "image-signed" };
  } catch (e) {
    // A rule Vigil cannot use (a key that does not parse, a pattern that does not compile) is the
    // policy's to fix: bad input, never a verdict about the image.
    if (e instanceof InputError) throw new InputError(`${ruleAt}: ${e.message}`);
    if (!(e instanceof Error)) throw e;
    const unavailable = e instanceof VigilError && e.exitCode === ExitCode.unavailable;
    const fix = unavailable
      ? "check that the registry is reachable and the credentials work, then retry"
      : `sign it as the rule for ${rule.pattern} (${ruleAt}) requires`;
    const code = unavailable ? "registry-unavailable" : e instanceof VerificationFailure ? e.code : "image-unreadable";
    return { blocked: `${e.message}; ${fix}`, code, unavailable };
  }
}

function requirements(rule: ImageRule, input: ImageGateOptions): ImageRequirements {
  return {
    signers: (rule.signers ?? []).flatMap((s) => imageSigners(s, input.policy.doc)),
    attestations: (rule.attestations ?? []).map((a) => ({ predicateType: a.predicateType, ...(a.fields ? { fields: a.fields } : {}) })),
    ...(rule.annotations && { annotations: rule.annotations }),
    ...(input.trustedRoot ? { trustedRoot: input.trustedRoot } : {}),
    ...(input.now ? { now: input.now } : {}),
  };
}

/** A rule's signer as verifyImage takes it; a named signer stands for each of its sigstore identities. */
function imageSigners(s: NonNullable<ImageRule["signers"]>[number], doc: TrustPolicyDocument): ImageSigner[] {
  if ("signer" in s) {
    const named = doc.signers.find((d) => d.name === s.signer)!;
    const identities = [named.sigstore ?? []].flat();
    return identities.map((id) => ({ identity: id.identity, issuer: id.issuer, name: named.name }));
  }
  return [s];
}

function describe(v: ImageVerification, rule: ImageRule, ruleAt: string): string {
  const signers = [...new Set(v.signatures.map((s) => s.signer))].join(", ");
  const attestations = v.attestations.map((a) => `${a.predicateType} (${a.signer})`).join(", ");
  return `signed by ${signers}${attestations ? `; attested ${attestations}` : ""}; rule ${rule.pattern} (${ruleAt}); pinned to ${v.digest}`;
}

/** One admission of the verified digest per distinct signer and key that signed it. */
function admitted(v: ImageVerification): Admitted[] {
  const distinct = new Map(v.signatures.map(({ admitted: a }) => [`${a.signer}\n${a.key}`, a]));
  return [...distinct.values()].map((a) => ({ kind: "image", subject: v.digest, signer: a.signer, key: a.key }));
}

function toCheck(target: ImageTarget, outcome: Outcome): Check {
  const subject = `${target.where}: ${target.image}`;
  const c =
    "blocked" in outcome
      ? check({ gate: GATE, rule: "image-signature", status: "fail", subject, message: outcome.blocked, code: outcome.code })
      : check({
          gate: GATE,
          rule: "image-signature",
          status: "pass",
          subject,
          message: outcome.message,
          code: outcome.code,
          admits: outcome.admits,
        });
  return target.location ? { ...c, location: target.location } : c;
}
