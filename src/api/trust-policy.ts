// The trust policy's format on disk (kind TrustPolicy, apiVersion vigil.dev/v1alpha1): its schema and the
// document types it gives. Loading it, with errors that name file, line and field, and checks across
// fields are src/trust/policy.ts; what each field means is docs/revision-gate.md.
import * as v from "valibot";
import { API_VERSION } from "./version.ts";

export const TRUST_POLICY_KIND = "TrustPolicy";

// Valibot rather than zod: the same strict schemas, and it loads in a few milliseconds instead of a
// hundred or more, which every command pays at start-up.
/** Signer, group and environment names. */
export const namePattern = /^[A-Za-z0-9][A-Za-z0-9._@+-]*$/;
const name = v.pipe(v.string(), v.regex(namePattern, "must be a name of letters, digits and . _ @ + -"));
const text = v.pipe(v.string(), v.minLength(1, "must not be empty"));
const oneOrMany = <T extends v.GenericSchema>(t: T) => v.union([t, v.pipe(v.array(t), v.minLength(1, "must not be empty"))]);
const sigstoreIdentity = v.strictObject({ identity: text, issuer: v.pipe(v.string(), v.url("must be a URL")) });
const duration = v.pipe(v.string(), v.regex(/^(\d+[smhd])+$/, "must be a duration like 90s, 10m, 24h or 7d"));
/** A signer name, or "group:NAME". */
const principalRef = v.pipe(v.string(), v.regex(/^(group:)?[A-Za-z0-9][A-Za-z0-9._@+-]*$/, "must be a signer name or group:NAME"));
const positive = v.pipe(v.number(), v.integer("must be an integer"), v.minValue(1, "must be at least 1"));

const signer = v.strictObject({
  name,
  /** Keys in allowed_signers form without principals: `[options] keytype base64 [comment]`. */
  ssh: v.optional(oneOrMany(text)),
  openpgp: v.optional(oneOrMany(text)),
  sigstore: v.optional(oneOrMany(sigstoreIdentity)),
  /** A forge's key (e.g. the merge button's): trusted only for merge commits whose parents verify. */
  mergesOnly: v.optional(v.boolean()),
});

const environment = v.strictObject({
  name,
  branch: v.optional(text),
  path: v.optional(text),
  commitMessage: v.optional(text),
  approvals: v.optional(
    v.strictObject({
      required: positive,
      from: v.pipe(v.array(principalRef), v.minLength(1, "must not be empty")),
      excludeAuthors: v.optional(v.boolean()),
      maxAge: v.optional(duration),
    }),
  ),
  promotion: v.optional(v.strictObject({ after: name, soak: v.optional(duration) })),
  /** The environment's agent: its public key (PEM) signs the deployment records that promotion reads. */
  agent: v.optional(v.strictObject({ key: text })),
  /**
   * Gates the agent runs for this environment: every one unless turned off here, in the signed policy
   * (the agent's own configuration cannot drop one), and every verdict names the gates that were off.
   */
  gates: v.optional(
    v.strictObject({
      policy: v.optional(v.boolean()),
      artifact: v.optional(v.boolean()),
      secrets: v.optional(v.boolean()),
      vulnerability: v.optional(v.boolean()),
      "dry-run": v.optional(v.boolean()),
    }),
  ),
  /** Folders of the config repository whose policies, bindings and PolicyExceptions the policy gate uses for this environment (own them in `paths`). */
  policySources: v.optional(v.array(text)),
  /** The agent's prune limit for this environment: deletes past both `count` objects and `fraction` of its inventory stop (default 10 and 0.5). */
  pruneLimit: v.optional(
    v.strictObject({
      count: v.optional(v.pipe(v.number(), v.integer("must be an integer"), v.minValue(0, "must be 0 or more"))),
      fraction: v.optional(v.pipe(v.number(), v.minValue(0, "must be 0 or more"), v.maxValue(1, "must be at most 1"))),
    }),
  ),
  /** What the monitor's findings about this environment do (issue 20): alert only (default), block promotion of affected revisions, or mark the environment degraded until a fixed revision is deployed. */
  monitor: v.optional(
    v.strictObject({
      enforcement: v.picklist(["alert", "block-promotion", "degraded"], 'must be "alert", "block-promotion" or "degraded"'),
      /** The least severity of an open finding that enforces (default low: every finding; an unknown severity always does). */
      threshold: v.optional(v.picklist(["low", "medium", "high", "critical"], 'must be "low", "medium", "high" or "critical"')),
    }),
  ),
});

/** Who may sign an image: a public key (PEM), a signer of `signers` by its sigstore identities, or a
 *  certificate identity and issuer, each exact or an RE2 pattern (cosign's --certificate-identity[-regexp]). */
const imageSigner = v.union([
  v.strictObject({ key: text }),
  v.strictObject({ signer: name }),
  v.strictObject({
    identity: v.optional(text),
    identityRegexp: v.optional(text),
    issuer: v.optional(text),
    issuerRegexp: v.optional(text),
  }),
]);
/** A predicate field an attestation must have: `path` into the predicate, an exact value or an RE2 pattern. */
const predicateField = v.union([
  v.strictObject({ path: text, equals: v.union([v.string(), v.number(), v.boolean()]) }),
  v.strictObject({ path: text, matches: text }),
]);
const image = v.strictObject({
  /** A glob over "registry/repository" (docker.io/library/… for short names): ** crosses "/", * does not. */
  pattern: text,
  signers: v.optional(v.array(imageSigner)),
  attestations: v.optional(v.array(v.strictObject({ predicateType: text, fields: v.optional(v.array(predicateField)) }))),
  /** Images under this pattern run without signatures: say so explicitly, it is never a default. */
  allowUnsigned: v.optional(v.boolean()),
  /** Annotations every accepted signature must carry, as `cosign verify -a KEY=VALUE` requires. */
  annotations: v.optional(v.record(v.string(), v.string())),
});
/** A kind Kubernetes does not define (a CRD's): where its images are, or that it has none. Until it is
 *  declared, the artifact gate blocks it, since its images could be in a shape Vigil cannot find. Paths
 *  are field paths (`spec.templates[*].container`): to image fields, to pod specs, to lists of
 *  containers and to single containers; the artifact gate verifies the images of all four, the policy
 *  gate judges the containers of the last three as a PodTemplate's (src/manifest/workloads.ts). */
const kindPaths = v.pipe(v.array(text), v.minLength(1, "must not be empty: leave it out, or write carriesNoImages: true"));
const kindImages = v.union([
  v.pipe(
    v.strictObject({
      group: v.string(),
      kind: text,
      images: v.optional(kindPaths),
      podSpecs: v.optional(kindPaths),
      containerLists: v.optional(kindPaths),
      containers: v.optional(kindPaths),
    }),
    v.check(
      (k) => k.images !== undefined || k.podSpecs !== undefined || k.containerLists !== undefined || k.containers !== undefined,
      "say where its images are (images, podSpecs, containerLists or containers), or write carriesNoImages: true",
    ),
  ),
  v.strictObject({ group: v.string(), kind: text, carriesNoImages: v.literal(true) }),
]);

/** Secret-scanner allowlist entries (issue 22): a finding is allowed when every field an entry gives matches
 *  it (a path pattern, a rule id, a fingerprint); the reason is kept for the person reading it later. */
const secretsAllow = v.pipe(
  v.strictObject({
    paths: v.optional(v.pipe(v.array(text), v.minLength(1, "must not be empty"))),
    rules: v.optional(
      v.pipe(
        v.array(v.pipe(v.string(), v.regex(/^[a-z0-9-]+$/, "must be a rule id (see vigil secrets rules)"))),
        v.minLength(1, "must not be empty"),
      ),
    ),
    fingerprints: v.optional(
      v.pipe(
        v.array(v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/, "must be a finding's fingerprint (32 hex digits)"))),
        v.minLength(1, "must not be empty"),
      ),
    ),
    reason: text,
  }),
  v.check(
    (e) => e.paths !== undefined || e.rules !== undefined || e.fingerprints !== undefined,
    "give paths, rules or fingerprints (an entry with none would allow every finding)",
  ),
);

export const trustPolicySchema = v.strictObject({
  apiVersion: v.literal(API_VERSION, `must be "${API_VERSION}"`),
  kind: v.literal(TRUST_POLICY_KIND, `must be "${TRUST_POLICY_KIND}"`),
  /** A git allowed_signers file, relative to this policy; its principals become signer names. */
  allowedSigners: v.optional(text),
  signers: v.optional(v.array(signer), []),
  groups: v.optional(v.record(name, v.array(name)), {}),
  admins: v.optional(v.strictObject({ members: v.pipe(v.array(name), v.minLength(1, "must not be empty")), threshold: positive })),
  paths: v.optional(
    v.array(v.strictObject({ pattern: text, owners: v.pipe(v.array(principalRef), v.minLength(1, "must not be empty")) })),
    [],
  ),
  environments: v.optional(v.array(environment), []),
  images: v.optional(v.array(image), []),
  kinds: v.optional(v.array(kindImages), []),
  secrets: v.optional(v.strictObject({ allow: v.optional(v.array(secretsAllow), []) })),
});

export type TrustPolicyDocument = v.InferOutput<typeof trustPolicySchema>;
export type EnvironmentSpec = v.InferOutput<typeof environment>;
export type SecretsAllowEntry = v.InferOutput<typeof secretsAllow>;
