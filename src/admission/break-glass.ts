// Break-glass: in an emergency an admin of the trust policy admits one object the webhook would refuse.
// The object carries the annotation vigil.dev/break-glass: a DSSE envelope (base64 of its JSON) whose
// payload names the object (kind, namespace, name), why, and a short validity window, signed the way
// approvals are (ssh-keygen -Y sign in namespace "vigil-break-glass", gpg, or an x509 program) with a
// key the trust policy gives one of its admins. The webhook verifies it as a checklist, refuses a token
// seen before, and records the admission (who, why, what ran) in the audit log before it answers.
import { randomBytes } from "node:crypto";
import * as v from "valibot";
import { signDetached, type DetachedSigner } from "../git/signatures/sign.ts";
import { verifyGitSignature } from "../git/signatures/verify.ts";
import { envelopeToJson, parseEnvelope, preAuthEncoding } from "../sigstore/dsse.ts";
import type { Keyring } from "../trust/keyring.ts";

export const BREAK_GLASS_ANNOTATION = "vigil.dev/break-glass";
const BREAK_GLASS_PAYLOAD_TYPE = "application/vnd.vigil.break-glass+json";
/** SSHSIG's namespace: a signature made for git, approvals or anything else never counts here. */
const BREAK_GLASS_NAMESPACE = "vigil-break-glass";
/** The annotation is read only up to this size (an SSH or OpenPGP signature and a reason fit many times over). */
const MAX_TOKEN_BYTES = 16 * 1024;

const time = v.pipe(
  v.string(),
  v.regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/, "must be an RFC 3339 time in UTC"),
  v.check((t) => !Number.isNaN(Date.parse(t)), "must be a real time"),
);
const claimSchema = v.strictObject({
  kind: v.pipe(v.string(), v.minLength(1)),
  namespace: v.pipe(v.string(), v.minLength(1)),
  name: v.pipe(v.string(), v.minLength(1)),
  reason: v.pipe(v.string(), v.minLength(1, "must say why"), v.maxLength(1024)),
  notBefore: time,
  notAfter: time,
  /** 128 random bits: the token's identity, refused once used. */
  id: v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/, "must be 32 hex digits")),
});

export type BreakGlassClaim = v.InferOutput<typeof claimSchema>;

export interface BreakGlassTarget {
  kind: string;
  namespace: string;
  name: string;
}

/** The claim for one object, valid from now for `lifetimeMs`. */
export function breakGlassClaim(target: BreakGlassTarget, reason: string, lifetimeMs: number, now = new Date()): BreakGlassClaim {
  return {
    ...target,
    reason,
    notBefore: now.toISOString(),
    notAfter: new Date(now.getTime() + lifetimeMs).toISOString(),
    id: randomBytes(16).toString("hex"),
  };
}

/** The annotation's value: the claim signed by `signer`, as a base64 DSSE envelope. */
export function signBreakGlass(claim: BreakGlassClaim, signer: DetachedSigner): string {
  const payload = Buffer.from(JSON.stringify(claim), "utf8");
  const armored = signDetached(preAuthEncoding(BREAK_GLASS_PAYLOAD_TYPE, payload), signer, BREAK_GLASS_NAMESPACE);
  const envelope = { payloadType: BREAK_GLASS_PAYLOAD_TYPE, payload, signatures: [{ keyid: "", sig: Buffer.from(armored) }] };
  return Buffer.from(JSON.stringify(envelopeToJson(envelope))).toString("base64");
}

export interface BreakGlassGrant {
  claim: BreakGlassClaim;
  /** The trust policy's signer name, and the key as a person would look it up. */
  signer: string;
  key: string;
}

export type BreakGlassResult = { ok: true; grant: BreakGlassGrant } | { ok: false; reason: string };

export interface BreakGlassContext {
  keyring: Keyring;
  /** The trust policy's admins, groups expanded. */
  admins: ReadonlySet<string>;
  maxLifetimeMs: number;
  now: Date;
}

/** Verifies a token for this object, in order; the first failure is the answer. Never throws on bad input. */
export async function verifyBreakGlass(token: string, target: BreakGlassTarget, ctx: BreakGlassContext): Promise<BreakGlassResult> {
  const no = (reason: string): BreakGlassResult => ({ ok: false, reason });
  if (token.length > MAX_TOKEN_BYTES) return no(`the token is longer than ${MAX_TOKEN_BYTES} bytes`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token)) return no("the token is not base64");
  let envelope;
  try {
    envelope = parseEnvelope(JSON.parse(Buffer.from(token, "base64").toString("utf8")), "the token");
  } catch (e) {
    return no(`the token is not a DSSE envelope: ${(e as Error).message}`);
  }
  if (envelope.payloadType !== BREAK_GLASS_PAYLOAD_TYPE)
    return no(`the token carries a ${envelope.payloadType} payload, not ${BREAK_GLASS_PAYLOAD_TYPE}`);
  if (envelope.signatures.length !== 1) return no(`the token carries ${envelope.signatures.length} signatures, not one`);
  // The signature first: not a word of the claim is trusted before it verifies.
  const armored = envelope.signatures[0]!.sig.toString("utf8");
  const signature = await verifyGitSignature(
    ctx.keyring,
    armored,
    preAuthEncoding(envelope.payloadType, envelope.payload),
    ctx.now,
    BREAK_GLASS_NAMESPACE,
  );
  if (!signature.ok) return no(`the token's signature does not verify: ${signature.reason}`);
  if (!ctx.admins.has(signature.identity))
    return no(`the token is signed by ${signature.identity} (${signature.key}), who is not an admin of the trust policy`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(envelope.payload.toString("utf8"));
  } catch {
    return no("the token's payload is not JSON");
  }
  const result = v.safeParse(claimSchema, parsed);
  if (!result.success)
    return no(
      `the token's claim is malformed: ${result.issues
        .slice(0, 3)
        .map((i) => `${(i.path ?? []).map((p) => String(p.key)).join(".") || "claim"}: ${i.message}`)
        .join("; ")}`,
    );
  const claim = result.output;
  for (const field of ["kind", "namespace", "name"] as const) {
    if (claim[field] !== target[field])
      return no(`the token is for ${claim.kind} ${claim.namespace}/${claim.name}, not ${target.kind} ${target.namespace}/${target.name}`);
  }
  const from = Date.parse(claim.notBefore);
  const until = Date.parse(claim.notAfter);
  if (until <= from) return no("the token's notAfter is not after its notBefore");
  if (until - from > ctx.maxLifetimeMs)
    return no(
      `the token is valid for ${Math.round((until - from) / 60_000)} minutes, longer than the ${Math.round(ctx.maxLifetimeMs / 60_000)} the configuration allows`,
    );
  if (ctx.now.getTime() < from) return no(`the token is not valid before ${claim.notBefore}`);
  if (ctx.now.getTime() > until) return no(`the token expired at ${claim.notAfter}`);
  return { ok: true, grant: { claim, signer: signature.identity, key: signature.key } };
}
