// in-toto attestations (github.com/in-toto/attestation): a Statement v1 (and the v0.1 statements cosign
// makes) naming its subjects by digest, a predicate type and a predicate; and the policy hook that
// requires a predicate type and checks predicate fields against expected values or patterns.
import { createHash } from "node:crypto";
import { RE2JS } from "@bufbuild/re2";
import { InputError } from "../core/errors.ts";
import { refuse } from "./failure.ts";

export const INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";
export const STATEMENT_V1 = "https://in-toto.io/Statement/v1";
export const STATEMENT_V01 = "https://in-toto.io/Statement/v0.1";

/** Predicate types Vigil knows by name (cosign attest --type gives the same URIs). */
export const PREDICATE_TYPES = {
  cyclonedx: "https://cyclonedx.org/bom",
  spdx: "https://spdx.dev/Document",
  "slsa-provenance-v1": "https://slsa.dev/provenance/v1",
  "slsa-provenance-v0.2": "https://slsa.dev/provenance/v0.2",
} as const;

/** cosign attest's --type names and the predicate types they stand for (custom is cosign's own). */
export const COSIGN_PREDICATE_TYPES = {
  slsaprovenance: PREDICATE_TYPES["slsa-provenance-v0.2"],
  slsaprovenance02: PREDICATE_TYPES["slsa-provenance-v0.2"],
  slsaprovenance1: PREDICATE_TYPES["slsa-provenance-v1"],
  spdx: PREDICATE_TYPES.spdx,
  spdxjson: PREDICATE_TYPES.spdx,
  cyclonedx: PREDICATE_TYPES.cyclonedx,
  openvex: "https://openvex.dev/ns",
  vuln: "https://cosign.sigstore.dev/attestation/vuln/v1",
  custom: "https://cosign.sigstore.dev/attestation/v1",
} as const;

/** A --type value: a predicate type URI, or a name Vigil (PREDICATE_TYPES) or cosign (COSIGN_PREDICATE_TYPES) gives one. */
export function predicateTypeOf(type: string, option = "--type"): string {
  const named: Record<string, string> = { ...PREDICATE_TYPES, ...COSIGN_PREDICATE_TYPES };
  const uri = named[type] ?? type;
  if (!/^[a-z][a-z0-9+.-]*:/i.test(uri))
    throw new InputError(`${option} must be a URI or one of ${Object.keys(named).join(", ")}, not "${type}"`);
  return uri;
}

export interface Subject {
  name: string;
  /** Algorithm → lower-case hex digest. */
  digest: Record<string, string>;
  /** in-toto's ResourceDescriptor annotations; cosign's `-a KEY=VALUE` on image signatures (string values kept). */
  annotations?: Record<string, unknown>;
}

export interface Statement {
  type: string;
  subject: Subject[];
  predicateType: string;
  predicate: unknown;
}

/** Builds a Statement v1 for subjects given as `sha256:<hex>` digests (names optional, annotations as cosign's -a). */
export function makeStatement(
  subjects: { name: string; digest: string; annotations?: Record<string, string> }[],
  predicateType: string,
  predicate: unknown,
): Buffer {
  const subject = subjects.map((s) => {
    const [algorithm, hex] = splitDigest(s.digest, "subject digest");
    return { name: s.name, digest: { [algorithm]: hex }, ...(s.annotations && { annotations: s.annotations }) };
  });
  return Buffer.from(JSON.stringify({ _type: STATEMENT_V1, subject, predicateType, predicate }));
}

/**
 * The statement a verified DSSE envelope carries. Its payloadType must say in-toto: cosign refuses an
 * attestation or signature envelope of any other type (it was not signed as a statement), and so does
 * Vigil, before reading the payload.
 */
export function envelopeStatement(envelope: { payloadType: string; payload: Buffer }): Statement {
  if (envelope.payloadType !== INTOTO_PAYLOAD_TYPE) {
    refuse(
      "predicate",
      `invalid payloadType ${JSON.stringify(envelope.payloadType)} on the DSSE envelope: expected ${INTOTO_PAYLOAD_TYPE}; it is not an in-toto attestation`,
    );
  }
  return parseStatement(envelope.payload);
}

/**
 * Parses an in-toto Statement strictly (v1, or v0.1 as cosign writes it). A statement is signed content,
 * so a malformed one is refused as a verification failure, not reported as bad input.
 */
export function parseStatement(payload: Buffer): Statement {
  let doc: any;
  try {
    doc = JSON.parse(payload.toString("utf8"));
  } catch {
    refuse("predicate", "the signed payload is not JSON, so it is not an in-toto statement");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) refuse("predicate", "the in-toto statement is not a JSON object");
  if (doc._type !== STATEMENT_V1 && doc._type !== STATEMENT_V01) {
    refuse(
      "predicate",
      `the statement's _type ${JSON.stringify(doc._type)} is not an in-toto Statement (${STATEMENT_V1} or ${STATEMENT_V01})`,
    );
  }
  if (typeof doc.predicateType !== "string" || doc.predicateType === "") refuse("predicate", "the in-toto statement has no predicateType");
  if (!Array.isArray(doc.subject) || doc.subject.length === 0) refuse("subject", "the in-toto statement names no subject");
  const subject = doc.subject.map((s: any, i: number): Subject => {
    if (typeof s !== "object" || s === null || typeof s.digest !== "object" || s.digest === null) {
      refuse("subject", `the in-toto statement's subject[${i}] has no digest`);
    }
    const digest: Record<string, string> = {};
    for (const [algorithm, hex] of Object.entries(s.digest)) {
      if (typeof hex !== "string" || !/^[0-9a-fA-F]+$/.test(hex))
        refuse("subject", `subject[${i}].digest.${algorithm} is not a hex digest`);
      digest[algorithm] = hex.toLowerCase();
    }
    const annotations =
      typeof s.annotations === "object" && s.annotations !== null && !Array.isArray(s.annotations)
        ? (s.annotations as Record<string, unknown>)
        : undefined;
    return { name: typeof s.name === "string" ? s.name : "", digest, ...(annotations && { annotations }) };
  });
  return { type: doc._type, subject, predicateType: doc.predicateType, predicate: doc.predicate ?? null };
}

/** Splits "sha256:<hex>"; throws InputError naming `what`. */
export function splitDigest(digest: string, what: string): [string, string] {
  const m = /^(sha256|sha384|sha512):([0-9a-f]+)$/.exec(digest);
  const lengths: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
  if (!m || m[2]!.length !== lengths[m[1]!]) throw new InputError(`${what} "${digest}" is not a digest like sha256:<64 hex digits>`);
  return [m[1]!, m[2]!];
}

export function sha256Digest(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** Refuses unless a subject of the statement has `digest` ("sha256:<hex>"). */
export function checkSubject(statement: Statement, digest: string): Subject {
  const [algorithm, hex] = splitDigest(digest, "artifact digest");
  const match = statement.subject.find((s) => s.digest[algorithm] === hex);
  if (match) return match;
  const named = statement.subject
    .map((s) =>
      Object.entries(s.digest)
        .map(([a, h]) => `${a}:${h}`)
        .join("/"),
    )
    .join(", ");
  refuse("subject", `the attestation is about ${named}, not ${digest}: it was made for another artifact`);
}

// ---------------------------------------------------------------------------------------------------
// Policy

/** One predicate field a policy checks: `path` is relative to the predicate ("builder.id", "a.b[0]", 'x["k.y"]'). */
export type FieldRule = { path: string; equals: string | number | boolean } | { path: string; matches: string };

export interface AttestationPolicy {
  predicateType: string;
  fields?: FieldRule[];
}

/**
 * Checks a statement against a policy: the predicate type must be the one required, and every field rule
 * must hold. `matches` is an RE2 pattern the whole (string) value must match. Throws VerificationFailure.
 */
export function checkPredicate(statement: Statement, policy: AttestationPolicy): void {
  if (statement.predicateType !== policy.predicateType) {
    refuse("predicate", `the attestation's predicate type is ${statement.predicateType}, but ${policy.predicateType} is required`);
  }
  for (const rule of policy.fields ?? []) {
    const value = fieldAt(statement.predicate, parsePath(rule.path));
    if ("equals" in rule) {
      if (value !== rule.equals) {
        refuse("predicate", `predicate field ${rule.path} is ${describe(value)}, but the policy requires ${JSON.stringify(rule.equals)}`);
      }
    } else if (typeof value !== "string" || !compilePattern(rule.matches, rule.path).testExact(value)) {
      refuse("predicate", `predicate field ${rule.path} is ${describe(value)}, which does not match the policy's pattern ${rule.matches}`);
    }
  }
}

function describe(value: unknown): string {
  return value === undefined ? "missing" : JSON.stringify(value);
}

function compilePattern(pattern: string, path: string): RE2JS {
  try {
    return RE2JS.compile(pattern);
  } catch (e) {
    throw new InputError(`the policy's pattern for ${path} is not a valid RE2 regular expression (${(e as Error).message})`);
  }
}

/** "a.b[0]['c.d']" → ["a", "b", 0, "c.d"]; throws InputError on a malformed path. */
export function parsePath(path: string): (string | number)[] {
  const parts: (string | number)[] = [];
  const token = /\.?([A-Za-z0-9_$@-]+)|\[(\d+)\]|\[(["'])(.*?)\3\]/y;
  let pos = 0;
  while (pos < path.length) {
    token.lastIndex = pos;
    const m = token.exec(path);
    if (!m || (pos === 0 && path[0] === ".")) throw new InputError(`field path "${path}" is malformed at character ${pos + 1}`);
    parts.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : m[4]!));
    pos = token.lastIndex;
  }
  if (parts.length === 0) throw new InputError("a field path is empty");
  return parts;
}

function fieldAt(value: unknown, path: (string | number)[]): unknown {
  let current = value;
  for (const part of path) {
    if (typeof part === "number") current = Array.isArray(current) ? current[part] : undefined;
    else
      current =
        typeof current === "object" && current !== null && !Array.isArray(current) && Object.hasOwn(current, part)
          ? (current as Record<string, unknown>)[part]
          : undefined;
  }
  return current;
}
