// The machine-readable reason every verdict check carries beside its message (src/core/verdict.ts `code`):
// stable kebab-case names, grouped by the gate that gives them, each with the one line docs/verdict.md
// shows. Programs (the console, SARIF, CI, the monitor, scripts reading --json) branch on the code and
// never on a message, so messages may be reworded freely; a code, once published, keeps its meaning and
// is never reused for another. A reason several gates share is declared once, under `shared`.

export const CHECK_CODES = {
  shared: {
    "trust-policy-invalid": "the trust policy in force (or the one a commit brings) cannot be read or does not validate",
    "gate-off": "the trust policy turns this gate off for the environment",
    "no-images": "the manifests run no images, so there is nothing to judge",
    "signature-trusted": "a signature verified with a key or identity the trust policy trusts",
    "api-server-rejected": "the API server refused the object",
    "invalid-name": "the object's name or namespace is one the API server would reject",
    "signature-invalid": "a signature does not verify over what it signs, or with any trusted signer's key",
  },
  revision: {
    "same-revision": "the revision is the one deployed last: nothing new",
    descends: "the revision descends from the one deployed last",
    "rollback-approved": "the revision is behind the one deployed last, and enough rollback approvals allow it",
    rollback: "the revision is behind the one deployed last, without the rollback approvals it needs",
    "history-rewritten": "the revision does not descend from the one deployed last: the branch was rewritten",
    "no-branch-rule": "the trust policy names no branch for the environment",
    "on-branch": "the revision is on (or is the head of) the environment's branch",
    "not-on-branch": "the revision is not on the environment's branch",
    "tag-malformed": "the tag object cannot be read",
    "tag-moved": "a signed tag is stored under another name than the one it was signed with",
    "unsigned-tag": "the tag carries no signature",
    "signature-malformed": "the signature cannot be read: malformed, or in no known format",
    "untrusted-key": "no key or certificate authority the trust policy trusts made the signature",
    "key-not-valid": "a trusted key made it, but may not at the trusted time (expired, revoked, not yet valid, another namespace)",
    "signature-not-trusted":
      "the signature could not be verified as trusted: an x509 chain, transparency-log entry or identity that does not verify, or a verifier that failed",
    "malformed-object": "the repository holds a commit git would not write",
    "paths-owned": "every path the commit changes is owned by its signer (or it changes none)",
    "no-trusted-signer": "no trusted signer, so there is no owner whose paths could be checked",
    "path-not-owned": "the commit changes paths its signer does not own",
    "unsigned-commit": "the commit carries no signature",
    "merge-only-key": "the key that signed it is trusted for merge commits only, and the commit is not a merge",
    "message-matches": "the commit message matches the environment's rule",
    "message-mismatch": "the commit message does not match the environment's rule",
    "no-policy-admins": "the commit changes the trust policy, but the policy before it names no admins",
    "policy-change-approved": "the trust policy change is signed by enough admins",
    "policy-change-underapproved": "the trust policy change has fewer admin signatures than the threshold",
    "commits-passed": "every check on the range's commits passed (the agent's summary)",
  },
  approvals: {
    "approval-counted": "a signed approval was counted",
    "approval-not-counted": "an approval was not counted (bad signature, unknown signer, self-approval, withdrawn, another revision…)",
    "withdrawal-ignored": "a withdrawal was ignored (bad signature, unknown signer…)",
    "approvals-withdrawn": "a signer withdrew their approvals",
    "claim-deleted": "a claim the audit log recorded is no longer in refs/vigil/: someone deleted it",
    "not-required": "the trust policy asks no approvals and no promotion for the environment",
    "rollback-counted-by-history": "a rollback: the revision gate's history check counts its approvals",
    "approvals-met": "enough approvals from the people the rule names",
    "approvals-missing": "fewer approvals than the rule requires",
    "evidence-unlogged": "judged without the agent's audit log: a deleted claim could not be detected",
  },
  promotion: {
    "agent-key-invalid": "the earlier environment's agent key in the trust policy cannot be used",
    "deployment-records-unreadable": "the earlier environment's deployment records cannot be read",
    "not-deployed-before": "no deployment record shows the tree ran in the earlier environment",
    soaked: "the tree ran healthy in the earlier environment for the whole soak",
    "soak-incomplete": "the tree has not run healthy in the earlier environment for the whole soak",
    "record-counted": "a deployment record was read and counted",
    "record-not-counted": "a deployment record was not counted (bad signature, unreadable…)",
    "record-tree-mismatch": "a deployment record names another tree than the one it is stored under",
  },
  policy: {
    "unknown-kind": "no built-in type or CustomResourceDefinition in the set defines the object's kind",
    "no-policy-applies": "no policy applies to the resource",
    "schema-invalid": "the API server's schema or validation would reject the object",
    "unknown-fields": "the object has fields the schema does not know, which the API server drops",
    "policy-passed": "the resource passes the policy",
    "policy-denied": "a validation of the policy is false for the resource (a denial, a warning or an audit by the binding's actions)",
    "params-not-found": "the binding's parameters are not found, and parameterNotFoundAction is Deny",
    "evaluation-error": "an expression of the policy failed to evaluate (its failurePolicy decides)",
    "cost-limit-exceeded": "an expression of the policy exceeded the CEL cost limit",
    "policy-excepted": "a PolicyException in force excepts the resource from the policy",
    "no-policy-configured": "the policy gate is on, but no pack or policy is configured",
  },
  artifact: {
    "image-signed": "the image's signatures (and required attestations) verify with the rule's signers; pinned to its digest",
    "unsigned-allowed": "the image runs unsigned, as its rule allows (allowUnsigned); pinned to its digest",
    "no-image-rule": "no rule of the trust policy's images covers the image",
    "registry-unavailable": "the registry could not be reached or refused the credentials",
    "image-unreadable": "the image, or what verifying it needs, cannot be read from the registry",
    "undeclared-kind": "a custom kind the trust policy does not describe: where its images are is unknown",
    "no-manifests": "no manifests were found under the paths given",
    "signature-missing": "no signature at all for the artifact (never signed, or the tag now names another image)",
    "signature-unreadable": "a signature or attestation cannot be read",
    "identity-mismatch": "the signature's certificate identity or key is not one the policy trusts",
    "certificate-invalid": "the signing certificate does not chain to the trusted root or is not valid",
    "tlog-invalid": "the transparency-log entry is missing or does not verify",
    "timestamp-invalid": "the signed timestamp does not verify",
    "bundle-invalid": "the Sigstore bundle cannot be verified",
    "payload-invalid": "the signed payload is not a valid cosign image signature",
    "subject-mismatch": "the attestation is about another artifact",
    "predicate-mismatch": "the attestation's predicate type or fields are not what the policy requires",
    "attestation-missing": "the image has no attestation of the required type",
    "attestation-invalid": "no attestation of the required type is signed by a trusted signer and passes the policy",
    "annotation-mismatch": "a signature lacks an annotation the policy requires, or has another value",
    "not-an-attestation": "an attestation was asked for, but the bundle holds a plain signature",
    "subject-matches": "the attestation's statement is about this artifact",
    "subject-check-skipped": "the statement's subjects were not matched (--skip-subject-check)",
    "predicate-matches": "the attestation's predicate is the one required, with the fields the policy requires",
    "tlog-verified": "the transparency-log entries verified",
    "tlog-skipped": "no transparency-log entry was checked (--insecure-ignore-tlog)",
  },
  vulnerability: {
    "sbom-missing": "no verified SBOM for the image, so its vulnerabilities cannot be judged",
    "sbom-invalid": "the SBOM attested for the image cannot be read",
    "vulnerabilities-over-threshold": "findings at or above the failOn threshold, or that cannot be judged",
    "vulnerabilities-within-threshold": "no finding at or above the failOn threshold",
    "not-covered": "components no OSV ecosystem covers, so they cannot be judged",
    "no-purl": "components listed without a purl, so they cannot be judged",
    "vex-suppressed": "a finding a VEX statement says does not apply",
    "not-judgeable": "a finding that cannot be judged automatically (a version that cannot be compared…)",
    "vulnerability-over-threshold": "a vulnerability at or above the failOn threshold",
    "vulnerability-below-threshold": "a vulnerability below the failOn threshold",
    "vex-signed": "the VEX document is signed by a trusted signer",
    "vex-signature-invalid": "the VEX document's signature is missing or does not verify: its statements are not applied",
  },
  secrets: {
    "no-secrets": "the scan found no secret",
    "secret-found": "a secret was found (in the history or the working tree)",
    "file-too-large": "a file larger than the scanner reads",
  },
  decrypt: {
    "no-decryption-keys": "a file is SOPS-encrypted, but the agent has no decryption keys",
    "sops-in-kustomize": "a SOPS-encrypted file in a Kustomize environment, where SOPS files are not decrypted",
    "sops-runs-images": "a SOPS-encrypted file holds objects that run images, which the artifact gate cannot judge",
    "decryption-failed": "a SOPS file could not be decrypted, or its MAC does not verify",
    decrypted: "the SOPS files were decrypted in memory and their MACs verified",
  },
  render: {
    "no-objects": "the environment's path holds no Kubernetes objects at the revision",
    "objects-rendered": "the environment's objects were rendered",
    "policy-in-manifests": "a policy, binding or PolicyException is in the manifests it would judge",
  },
  apply: {
    "drift-restored": "the live object had drifted from Git and was put back",
    "out-of-scope": "the object is outside the environment's fence (namespaces, kinds)",
    "invalid-set": "the set of objects cannot be applied as a whole",
    "prune-limit-lifted": "the prune limit is lifted for this run",
    "prune-limit-exceeded": "the run would prune more than the prune limit allows",
    "not-adopted": "the object exists and someone else made it: Vigil takes it over only once it is adopted",
    "owned-by-other-environment": "the object belongs to another environment",
    "field-conflict": "another field manager owns fields the object sets",
    "drift-reported": "the live object drifted from Git and was not restored (drift: report)",
    "prune-skipped": "an object removed from Git was left in place, or pruning was skipped",
    forbidden: "the environment's account may not touch the object",
    adopted: "a live object was adopted on purpose",
    "inventory-untrusted": "the environment's inventory cannot be trusted, so nothing is pruned",
    applied: "objects were created, updated or left as they are",
  },
  health: {
    "not-healthy": "a workload is not healthy after the apply",
  },
  "dry-run": {
    "api-server-accepted": "the API server accepts every object in a server-side dry run",
  },
  audit: {
    "audit-log-invalid": "the audit log does not verify: entries deleted, rewound or edited",
    "log-extends-checkpoint": "the audit log extends the saved checkpoint: nothing before it was changed",
    "no-checkpoint-given": "no saved checkpoint was given, so a log rewritten whole and signed again cannot be told apart",
    "log-verified": "every entry matches its hash, and the tree rebuilt from them matches every checkpoint",
    "uncommitted-entries": "entries after the latest checkpoint: an append was interrupted or is running",
    "checkpoints-verified": "every checkpoint is signed by the log's key, in growing sizes",
    "checkpoint-invalid": "a checkpoint cannot be read or its signature does not verify",
    "checkpoints-reordered": "a checkpoint is not larger than the one before it",
    "no-checkpoint": "the log holds no checkpoint",
    "entries-removed": "the saved checkpoint commits to more entries than the log holds",
    "entries-altered": "entries or stored hashes were edited, reordered, removed or replaced",
    "entry-unreadable": "an entry cannot be read",
    "record-invalid": "an entry is not a valid audit record (--records)",
    "inconsistent-with-checkpoint": "the log does not extend the saved checkpoint",
    "audit-log-unavailable": "the audit log cannot be read, so nothing is deployed until it can be",
    recorded: "the reconcile was recorded in the audit log",
    "not-recorded": "the reconcile could not be recorded in the audit log",
  },
  agent: {
    "internal-error": "the reconcile stopped on an unexpected error",
    "not-leader": "the replica could not confirm its leadership, so it writes nothing",
    "dependency-unavailable": "a dependency (Git remote, registry, cluster) is unavailable",
    "bad-input": "an input (configuration, manifests, trust policy) is invalid",
    "status-unrecorded": "the status names an applied revision the audit log does not record",
    "status-taken-once": "the audit log holds no reconcile yet: the status's revision is taken once",
    "status-reset": "the status lost its last applied revision, which the audit log records",
    "status-altered": "the status's last applied revision differs from the audit log's",
    "status-deleted": "the status is gone while the environment's inventory is not",
    "state-deleted": "the status and inventory are gone, but the state key says the environment has applied",
    "status-mac-invalid": "the status's MAC does not verify: it was changed outside the agent",
    "status-unauthenticated": "the status carries no MAC (written before the state key existed); taken once",
    "inventory-mac-invalid": "the inventory's MAC does not verify: it was rewritten outside the agent",
    "inventory-unauthenticated": "the inventory carries no valid MAC (written before the state key existed); taken once",
  },
  admission: {
    "admission-not-prepared": "the cluster's admission policies could not be prepared, so nothing was written",
    "admission-policies-bound": "the packs are bound as ValidatingAdmissionPolicies for the environment's namespaces",
  },
  monitor: {
    "no-open-findings": "the monitor has no open finding here",
    "enforcement-off": "the environment's monitor enforcement does not block (report or off)",
    "open-findings": "open monitor findings on workloads running the revision block its promotion",
    "environment-degraded": "the environment has open monitor findings",
    "inventory-not-recorded": "the reconcile could not be recorded in the monitor's inventory",
    "inventory-recorded": "the reconcile was recorded in the monitor's inventory",
    "signer-unreadable": "the signer of an accepted signature could not be read, so revoking its key will not flag it",
    "drift-recorded": "drifted objects were recorded in the monitor's inventory",
  },
  ci: {
    "sbom-generated": "the image's SBOM was generated",
    "not-published": "nothing was signed or attested (the scan blocked, or publishing is off)",
    signed: "the image was signed",
    "sbom-attested": "the SBOM was attested",
    "provenance-attested": "the SLSA provenance was attested",
    "provenance-skipped": "no provenance was attested (--no-provenance)",
  },
} as const satisfies Record<string, Record<string, string>>;

type Declared = typeof CHECK_CODES;

/** Every declared code: the only values a check's `code` may take. */
export type DeclaredCheckCode = { [G in keyof Declared]: keyof Declared[G] }[keyof Declared];
type CheckCode = DeclaredCheckCode;

/** Every code with its group and meaning, in declaration order: for docs and strict parsing. */
export const ALL_CHECK_CODES: readonly { code: CheckCode; group: string; meaning: string }[] = Object.entries(CHECK_CODES).flatMap(
  ([group, codes]) => Object.entries(codes).map(([code, meaning]) => ({ code: code as CheckCode, group, meaning })),
);

/** The declared codes alone, for a schema's picklist. */
export const CHECK_CODE_LIST: readonly CheckCode[] = ALL_CHECK_CODES.map((c) => c.code);

const declared = new Set<string>(CHECK_CODE_LIST);

/** Whether a string is a declared code (reading a check back from JSON: an audit record). */
export function isCheckCode(value: string): value is CheckCode {
  return declared.has(value);
}

// src/core/verdict.ts sits below src/api/ and cannot import from it: it declares an empty registry,
// and this fills it, so CheckFields.code is exactly the union above wherever the compiler looks.
declare module "../core/verdict.ts" {
  interface CheckCodeRegistry extends Record<DeclaredCheckCode, true> {}
}
