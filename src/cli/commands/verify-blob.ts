import { InputError } from "../../core/errors.ts";
import { check, type Check } from "../../core/verdict.ts";
import { keyMessageBundle, loadBundleFile, type Bundle } from "../../sigstore/bundle.ts";
import { decodeBase64 } from "../../sigstore/encoding.ts";
import { VerificationFailure } from "../../sigstore/failure.ts";
import { checkPredicate, splitDigest, type FieldRule } from "../../sigstore/intoto.ts";
import { loadPublicKeyFile } from "../../sigstore/keys.ts";
import { trustedRootOption } from "../options.ts";
import { verifyBlobBundle, type Matcher, type SignerPolicy } from "../../sigstore/verify.ts";
import { verdictSink } from "../output.ts";
import { defineCommand, type Values } from "../command.ts";
import { ARTIFACT_INPUT_CAP, readInputFile } from "../../core/input-file.ts";

const GATE = "artifact";

export const verifyBlob = defineCommand({
  usage:
    "vigil verify blob [FILE] (--bundle FILE | --signature FILE) [--trusted-root FILE] (--key FILE | " +
    "--certificate-identity[-regexp] ID --certificate-oidc-issuer[-regexp] URL) [--digest sha256:HEX] [--json]",
  help: [
    "  FILE                                 the signed file (for an attestation: its subject)",
    "  --bundle FILE                        Sigstore bundle (v0.1, v0.2, v0.3; message signature or DSSE)",
    "  --signature FILE                     a bare base64 signature instead (with --key; needs --insecure-ignore-tlog)",
    "  --trusted-root FILE                  Sigstore trusted_root.json (CAs, logs, CT logs, timestamp authorities)",
    "  --key FILE                           the signer's PEM public key (cosign.pub)",
    "  --certificate-identity ID            the certificate's SAN (email or URI), exactly",
    "  --certificate-identity-regexp RE     ... or an RE2 pattern it must contain a match of",
    "  --certificate-oidc-issuer URL        the OIDC issuer in the certificate's Fulcio extension, exactly",
    "  --certificate-oidc-issuer-regexp RE  ... or an RE2 pattern",
    "  --digest sha256:HEX                  for an attestation without FILE: the subject digest to require",
    "  --skip-subject-check                 for an attestation: verify the envelope alone, match no subject",
    "  --type TYPE                          for an attestation: the predicate type it must have",
    "  --predicate-field PATH=VALUE         ... and a predicate field's value (repeatable; PATH like builder.id)",
    "  --predicate-field-regexp PATH=RE     ... or an RE2 pattern the whole value must match",
    "  --insecure-ignore-tlog               do not require a transparency-log entry (key-signed offline bundles)",
  ].join("\n"),
  options: {
    bundle: { type: "string" },
    signature: { type: "string" },
    "trusted-root": { type: "string" },
    key: { type: "string" },
    "certificate-identity": { type: "string" },
    "certificate-identity-regexp": { type: "string" },
    "certificate-oidc-issuer": { type: "string" },
    "certificate-oidc-issuer-regexp": { type: "string" },
    digest: { type: "string" },
    "skip-subject-check": { type: "boolean" },
    type: { type: "string" },
    "predicate-field": { type: "string", multiple: true },
    "predicate-field-regexp": { type: "string", multiple: true },
    "insecure-ignore-tlog": { type: "boolean" },
  },
  positionals: true,
  async run(values, positionals) {
    if (positionals.length > 1) throw new InputError(`give at most one FILE\nusage: ${this.usage}`);
    const file = positionals[0];
    const digest = values.digest;
    if (digest) splitDigest(digest, "--digest");
    if (!file && !digest && !values["skip-subject-check"]) {
      throw new InputError(`give the signed FILE (or, for an attestation, --digest or --skip-subject-check)\nusage: ${this.usage}`);
    }
    const signer = signerPolicy(values, this.usage);
    const bytes = file === undefined ? undefined : readInputFile(file, "the file", ARTIFACT_INPUT_CAP);
    const bundle = loadEvidence(values, signer, bytes, this.usage);
    const trustedRoot = trustedRootOption(values);
    const subject = file ?? digest ?? "(DSSE envelope)";
    const sink = verdictSink({ artifact: subject, bundle: values.bundle ?? values.signature }, values.json === true);
    for (const c of verifyChecks(bundle, { bytes, digest }, subject, values, {
      signer,
      trustedRoot,
      requireTlog: !values["insecure-ignore-tlog"],
    }))
      sink.add(c);
    return sink.end() === "pass" ? 0 : 1;
  },
});

function verifyChecks(
  bundle: Bundle,
  artifact: { bytes?: Buffer; digest?: string },
  subject: string,
  values: Record<string, unknown>,
  options: Parameters<typeof verifyBlobBundle>[2],
): Check[] {
  // Checks are collected as they pass, so a refusal is shown after what did verify.
  const checks: Check[] = [];
  try {
    const verified = verifyBlobBundle(bundle, artifact, options);
    const when = verified.times.length > 0 ? `, signed at ${verified.times.map((t) => t.toISOString()).join(", ")}` : "";
    checks.push(
      check({
        gate: GATE,
        rule: "signature",
        status: "pass",
        subject,
        message: `signed by ${verified.signer}${when}`,
        code: "signature-trusted",
      }),
    );
    checks.push(
      verified.tlogEntries > 0
        ? check({
            gate: GATE,
            rule: "transparency-log",
            status: "pass",
            subject,
            message: `${verified.tlogEntries} transparency-log entr${verified.tlogEntries === 1 ? "y" : "ies"} verified`,
            code: "tlog-verified",
          })
        : check({
            gate: GATE,
            rule: "transparency-log",
            status: "skip",
            subject,
            message: "no transparency-log entry (--insecure-ignore-tlog)",
            code: "tlog-skipped",
          }),
    );
    const policy = predicatePolicy(values);
    if (!verified.statement) {
      if (policy)
        checks.push(
          check({
            gate: GATE,
            rule: "predicate",
            status: "fail",
            subject,
            message: `--type ${policy.predicateType} asks for an attestation, but the bundle holds a plain signature`,
            code: "not-an-attestation",
          }),
        );
      return checks;
    }
    checks.push(
      verified.subjectChecked
        ? check({
            gate: GATE,
            rule: "subject",
            status: "pass",
            subject,
            message: `the ${verified.statement.predicateType} statement is about this artifact`,
            code: "subject-matches",
          })
        : check({
            gate: GATE,
            rule: "subject",
            status: "skip",
            subject,
            message: "the statement's subjects were not matched to any artifact (--skip-subject-check)",
            code: "subject-check-skipped",
          }),
    );
    if (policy) {
      checkPredicate(verified.statement, policy);
      const fields = policy.fields.map((f) => f.path).join(", ");
      checks.push(
        check({
          gate: GATE,
          rule: "predicate",
          status: "pass",
          subject,
          message: `predicate ${policy.predicateType}${fields ? ` with ${fields} as the policy requires` : ""}`,
          code: "predicate-matches",
        }),
      );
    }
  } catch (e) {
    if (!(e instanceof VerificationFailure)) throw e;
    checks.push(check({ gate: GATE, rule: e.step, status: "fail", subject, message: e.message, code: e.code }));
  }
  return checks;
}

function signerPolicy(values: Values<typeof verifyBlob.options>, usage: string): SignerPolicy {
  const identity = matcher(values, "certificate-identity");
  const issuer = matcher(values, "certificate-oidc-issuer");
  if (values.key) {
    if (identity || issuer) throw new InputError(`give either --key or a certificate identity, not both\nusage: ${usage}`);
    return { key: loadPublicKeyFile(values.key), name: values.key };
  }
  if (!identity || !issuer) {
    throw new InputError(
      `give --key, or both --certificate-identity (or -regexp) and --certificate-oidc-issuer (or -regexp): a certificate alone proves nothing about who signed\nusage: ${usage}`,
    );
  }
  return { identities: [{ subject: identity, issuer }] };
}

function matcher(values: Values<typeof verifyBlob.options>, name: "certificate-identity" | "certificate-oidc-issuer"): Matcher | undefined {
  const exact = values[name];
  const regexp = values[`${name}-regexp`];
  if (exact !== undefined && regexp !== undefined) throw new InputError(`give --${name} or --${name}-regexp, not both`);
  if (exact !== undefined) return { exact };
  if (regexp !== undefined) return { regexp };
  return undefined;
}

function loadEvidence(
  values: Values<typeof verifyBlob.options>,
  signer: SignerPolicy,
  artifact: Buffer | undefined,
  usage: string,
): Bundle {
  if (values.bundle && values.signature) throw new InputError(`give --bundle or --signature, not both\nusage: ${usage}`);
  if (values.bundle) return loadBundleFile(values.bundle);
  if (!values.signature) throw new InputError(`--bundle is required\nusage: ${usage}`);
  if (!("key" in signer)) throw new InputError("--signature is a bare key signature: verify it with --key");
  if (!artifact) throw new InputError(`--signature needs the signed FILE\nusage: ${usage}`);
  // A bare signature is verified as a key-signed message bundle without log entries.
  const path = values.signature;
  const text = readInputFile(path, "the file").toString("utf8").trim();
  const signature = decodeBase64(text);
  if (!signature || signature.length === 0) throw new InputError(`${path}: the signature is not base64`);
  return keyMessageBundle({ artifact, signature, key: signer.key });
}

function predicatePolicy(values: Values<typeof verifyBlob.options>): { predicateType: string; fields: FieldRule[] } | undefined {
  const equals = (values["predicate-field"] ?? []).map((f) => fieldRule(f, "--predicate-field", (path, v) => ({ path, equals: v })));
  const patterns = (values["predicate-field-regexp"] ?? []).map((f) =>
    fieldRule(f, "--predicate-field-regexp", (path, v) => ({ path, matches: v })),
  );
  const fields = [...equals, ...patterns];
  if (!values.type) {
    if (fields.length > 0) throw new InputError("--predicate-field needs --type: a field means something only for one predicate type");
    return undefined;
  }
  return { predicateType: values.type, fields };
}

function fieldRule(text: string, option: string, make: (path: string, value: string) => FieldRule): FieldRule {
  const at = text.indexOf("=");
  if (at <= 0) throw new InputError(`${option} must be PATH=VALUE, not "${text}"`);
  return make(text.slice(0, at), text.slice(at + 1));
}
