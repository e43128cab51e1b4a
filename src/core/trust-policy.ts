// The trust policy (DESIGN.md, "Trust policy"): its schema, and loading it with errors that name
// file, line and field. Keys and identities are turned into verifiers by the revision gate's keyring.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { InputError } from "./errors.ts";
import { parseDuration } from "./duration.ts";
import { locate, parseYamlSource, type YamlSource } from "./yaml-source.ts";

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@+-]*$/, "a name of letters, digits and . _ @ + -");
const oneOrMany = <T extends z.ZodType>(t: T) => z.union([t, z.array(t).min(1)]);
const sigstoreIdentity = z.strictObject({ identity: z.string().min(1), issuer: z.string().url() });
const duration = z.string().regex(/^(\d+[smhd])+$/, "a duration like 90s, 10m, 24h or 7d");
/** A signer name, or "group:NAME". */
const principalRef = z.string().regex(/^(group:)?[A-Za-z0-9][A-Za-z0-9._@+-]*$/, "a signer name or group:NAME");

const signer = z.strictObject({
  name,
  /** Keys in allowed_signers form without principals: `[options] keytype base64 [comment]`. */
  ssh: oneOrMany(z.string().min(1)).optional(),
  openpgp: oneOrMany(z.string().min(1)).optional(),
  sigstore: oneOrMany(sigstoreIdentity).optional(),
  /** A forge's key (e.g. the merge button's): trusted only for merge commits whose parents verify. */
  mergesOnly: z.boolean().optional(),
});

const environment = z.strictObject({
  name,
  branch: z.string().min(1).optional(),
  path: z.string().min(1).optional(),
  commitMessage: z.string().min(1).optional(),
  approvals: z
    .strictObject({
      required: z.number().int().min(1),
      from: z.array(principalRef).min(1),
      excludeAuthors: z.boolean().optional(),
      maxAge: duration.optional(),
    })
    .optional(),
  promotion: z.strictObject({ after: name, soak: duration.optional() }).optional(),
});

const imageSigner = z.union([z.strictObject({ key: z.string().min(1) }), sigstoreIdentity]);
const image = z.strictObject({
  pattern: z.string().min(1),
  signers: z.array(imageSigner).optional(),
  attestations: z.array(z.strictObject({ predicateType: z.string().min(1) }).catchall(z.unknown())).optional(),
  allowUnsigned: z.boolean().optional(),
});

export const trustPolicySchema = z.strictObject({
  apiVersion: z.literal("vigil.dev/v1alpha1"),
  kind: z.literal("TrustPolicy"),
  /** A git allowed_signers file, relative to this policy; its principals become signer names. */
  allowedSigners: z.string().min(1).optional(),
  signers: z.array(signer).default([]),
  groups: z.record(name, z.array(name)).default({}),
  admins: z.strictObject({ members: z.array(name).min(1), threshold: z.number().int().min(1) }).optional(),
  paths: z.array(z.strictObject({ pattern: z.string().min(1), owners: z.array(principalRef).min(1) })).default([]),
  environments: z.array(environment).default([]),
  images: z.array(image).default([]),
});

export type TrustPolicyDocument = z.infer<typeof trustPolicySchema>;
export type SignerSpec = z.infer<typeof signer>;
export type EnvironmentSpec = z.infer<typeof environment>;

export interface TrustPolicy {
  /** Where it came from: a file path, or ".vigil/trust.yaml@<commit>". */
  source: string;
  doc: TrustPolicyDocument;
  /** allowed_signers content, already read, with its path for messages. */
  allowedSigners?: { file: string; text: string };
  /** "file:line field" for a path into the document; messages use it to point at the rule. */
  where(path: readonly PropertyKey[]): string;
}

/** Loads and validates a trust policy file. Throws InputError naming file, line and field. */
export async function loadTrustPolicyFile(file: string): Promise<TrustPolicy> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new InputError(`${file}: cannot read the trust policy: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  return parseTrustPolicy(text, file, (rel) => readFileSync(new URL(rel, `file://${resolveDir(file)}/`), "utf8"));
}

function resolveDir(file: string): string {
  const abs = file.startsWith("/") ? file : `${process.cwd()}/${file}`;
  return abs.slice(0, abs.lastIndexOf("/"));
}

/**
 * Parses policy text. `readRelative` reads files the policy names (allowed_signers); a policy
 * read from a repository passes a reader of that same commit's tree.
 */
export async function parseTrustPolicy(
  text: string,
  source: string,
  readRelative: (path: string) => string | Promise<string>,
): Promise<TrustPolicy> {
  const src = parseYamlSource(text, source);
  const result = trustPolicySchema.safeParse(src.doc.toJS() ?? {});
  if (!result.success) throw schemaError(src, result.error);
  const doc = result.data;
  const where = (path: readonly PropertyKey[]) => locate(src, path);
  checkReferences(doc, where);
  const policy: TrustPolicy = { source, doc, where };
  if (doc.allowedSigners) {
    try {
      policy.allowedSigners = { file: doc.allowedSigners, text: await readRelative(doc.allowedSigners) };
    } catch (e) {
      throw new InputError(`${where(["allowedSigners"])}: cannot read ${doc.allowedSigners}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }
  return policy;
}

function schemaError(src: YamlSource, error: z.ZodError): InputError {
  const lines = error.issues.slice(0, 10).map((issue) => {
    const path = issue.path as PropertyKey[];
    if (issue.code === "unrecognized_keys") {
      return `${locate(src, [...path, issue.keys[0]!])}: unknown field "${issue.keys.join('", "')}"`;
    }
    return `${locate(src, path)}: ${issue.message}`;
  });
  const more = error.issues.length > 10 ? `\n(and ${error.issues.length - 10} more)` : "";
  return new InputError(`invalid trust policy:\n  ${lines.join("\n  ")}${more}`);
}

/** Names must resolve: a typo in an owner or group must not silently grant or deny. */
function checkReferences(doc: TrustPolicyDocument, where: (p: readonly PropertyKey[]) => string): void {
  const problems: string[] = [];
  const signers = new Set<string>();
  doc.signers.forEach((s, i) => {
    if (signers.has(s.name)) problems.push(`${where(["signers", i, "name"])}: duplicate signer "${s.name}"`);
    signers.add(s.name);
    if (!s.ssh && !s.openpgp && !s.sigstore) {
      problems.push(`${where(["signers", i])}: signer "${s.name}" has no key (give ssh, openpgp or sigstore)`);
    }
  });
  // Principals of an allowed_signers file are signers too, but are known only once it is read.
  const known = (n: string) => signers.has(n) || doc.allowedSigners !== undefined;
  for (const [group, members] of Object.entries(doc.groups)) {
    members.forEach((m, i) => {
      if (!known(m)) problems.push(`${where(["groups", group, i])}: unknown signer "${m}" in group ${group}`);
    });
  }
  const ref = (r: string, path: PropertyKey[]) => {
    if (r.startsWith("group:")) {
      if (!(r.slice(6) in doc.groups)) problems.push(`${where(path)}: unknown group "${r.slice(6)}"`);
    } else if (!known(r)) problems.push(`${where(path)}: unknown signer "${r}"`);
  };
  doc.admins?.members.forEach((m, i) => ref(m, ["admins", "members", i]));
  if (doc.admins && doc.admins.threshold > doc.admins.members.length) {
    problems.push(`${where(["admins", "threshold"])}: threshold ${doc.admins.threshold} exceeds the ${doc.admins.members.length} admins`);
  }
  doc.paths.forEach((p, i) => p.owners.forEach((o, j) => ref(o, ["paths", i, "owners", j])));
  const envs = new Set<string>();
  doc.environments.forEach((e, i) => {
    if (envs.has(e.name)) problems.push(`${where(["environments", i, "name"])}: duplicate environment "${e.name}"`);
    envs.add(e.name);
    if (e.commitMessage) {
      try {
        new RegExp(e.commitMessage, "u");
      } catch (err) {
        problems.push(`${where(["environments", i, "commitMessage"])}: invalid regular expression: ${(err as Error).message}`);
      }
    }
    e.approvals?.from.forEach((f, j) => ref(f, ["environments", i, "approvals", "from", j]));
    for (const field of ["maxAge"] as const) {
      const v = e.approvals?.[field];
      if (v) parseDuration(v, where(["environments", i, "approvals", field]));
    }
  });
  doc.environments.forEach((e, i) => {
    if (e.promotion && !envs.has(e.promotion.after)) {
      problems.push(`${where(["environments", i, "promotion", "after"])}: unknown environment "${e.promotion.after}"`);
    }
  });
  if (problems.length > 0) throw new InputError(`invalid trust policy:\n  ${problems.join("\n  ")}`);
}

/** Expands signer names and "group:NAME" references into signer names. */
export function expandPrincipals(policy: TrustPolicyDocument, refs: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const r of refs) {
    if (r.startsWith("group:")) for (const m of policy.groups[r.slice(6)] ?? []) out.add(m);
    else out.add(r);
  }
  return out;
}
