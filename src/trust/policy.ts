// The trust policy (docs/revision-gate.md): its schema, and loading it with errors that name
// file, line and field. Keys and identities are turned into verifiers by the revision gate's keyring.
import { RE2JS } from "@bufbuild/re2";
import { isMap, isScalar } from "yaml";
import { trustPolicySchema, type TrustPolicyDocument } from "../api/trust-policy.ts";
import { InputError } from "../core/errors.ts";
import { parseDuration } from "../core/duration.ts";
import { locate, parseYamlSource, validateYaml, type YamlSource } from "../core/yaml-source.ts";
import { formatBytes, readInputText } from "../core/input-file.ts";
import { kindPathProblems } from "../manifest/workloads.ts";
import { parseAllowedSignerLine, parseAllowedSigners, type SshTrustEntry } from "./ssh-signers.ts";

/** A trust policy, and the allowed_signers file it names, are at most this large: real ones are a few KiB. */
export const MAX_TRUST_POLICY_BYTES = 1024 * 1024;

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
  const text = readInputText(file, "the trust policy", MAX_TRUST_POLICY_BYTES);
  return parseTrustPolicy(text, file, (rel) =>
    readInputText(new URL(rel, `file://${resolveDir(file)}/`).pathname, "the allowed_signers file", MAX_TRUST_POLICY_BYTES),
  );
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
  refuseOversized(text, source, "the trust policy");
  const src = parseYamlSource(text, source);
  refuseReservedGroupNames(src);
  const doc = validateYaml(trustPolicySchema, src, "trust policy");
  const where = (path: readonly PropertyKey[]) => locate(src, path);
  checkReferences(doc, where);
  const policy: TrustPolicy = { source, doc, where };
  if (doc.allowedSigners) {
    let signersText: string;
    try {
      signersText = await readRelative(doc.allowedSigners);
    } catch (e) {
      if (e instanceof InputError) throw new InputError(`${where(["allowedSigners"])}: ${e.message}`);
      throw new InputError(`${where(["allowedSigners"])}: cannot read ${doc.allowedSigners}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
    refuseOversized(signersText, `${where(["allowedSigners"])} (${doc.allowedSigners})`, "the allowed_signers file");
    policy.allowedSigners = { file: doc.allowedSigners, text: signersText };
  }
  checkOneSignerPerPerson(identityClaims(policy));
  return policy;
}

/** A policy read from a blob is bounded too: parsing and validating it is work an attacker's commit could ask for. */
function refuseOversized(text: string, source: string, what: string): void {
  if (Buffer.byteLength(text) > MAX_TRUST_POLICY_BYTES)
    throw new InputError(`${source}: ${what} is larger than ${formatBytes(MAX_TRUST_POLICY_BYTES)}`);
}

/**
 * Group names that are also names of every object's prototype. The schema's record drops them silently
 * (so a group of that name would vanish); refused by name instead, so nothing depends on that.
 */
const reservedNames = new Set(["__proto__", "constructor", "prototype"]);

function refuseReservedGroupNames(src: YamlSource): void {
  const groups = src.doc.get("groups", true);
  if (!isMap(groups)) return;
  for (const pair of groups.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
    if (key !== undefined && reservedNames.has(key))
      throw new InputError(`${locate(src, ["groups", key])}: "${key}" cannot be a group name`);
  }
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
      if (!Object.hasOwn(doc.groups, r.slice(6))) problems.push(`${where(path)}: unknown group "${r.slice(6)}"`);
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
    if (e.commitMessage) checkPattern(e.commitMessage, ["environments", i, "commitMessage"], where, problems);
    e.approvals?.from.forEach((f, j) => ref(f, ["environments", i, "approvals", "from", j]));
    for (const field of ["maxAge"] as const) {
      const v = e.approvals?.[field];
      if (v) parseDuration(v, where(["environments", i, "approvals", field]));
    }
  });
  doc.environments.forEach((e, i) => {
    const after = e.promotion?.after;
    if (after === undefined) return;
    const earlier = doc.environments.find((x) => x.name === after);
    const at = where(["environments", i, "promotion", "after"]);
    if (!earlier) problems.push(`${at}: unknown environment "${after}"`);
    else if (after === e.name) problems.push(`${at}: an environment cannot be promoted from itself`);
    else if (!earlier.agent)
      problems.push(`${at}: environment "${after}" names no agent key (agent: { key: … }) to verify its deployment records with`);
  });
  doc.images.forEach((rule, i) => checkImageRule(doc, rule, (p) => where(["images", i, ...p]), problems));
  doc.kinds.forEach((k, i) => problems.push(...kindPathProblems(k).map((p) => `${where(["kinds", i, p.field, p.index])}: ${p.message}`)));
  if (problems.length > 0) throw new InputError(`invalid trust policy:\n  ${problems.join("\n  ")}`);
}

/** An image rule must say who signs, or say explicitly that nobody needs to; every signer must be usable. */
function checkImageRule(
  doc: TrustPolicyDocument,
  rule: TrustPolicyDocument["images"][number],
  where: (p: readonly PropertyKey[]) => string,
  problems: string[],
): void {
  const signers = rule.signers ?? [];
  if (rule.allowUnsigned && (signers.length > 0 || rule.attestations?.length))
    problems.push(`${where(["allowUnsigned"])}: a rule that allows unsigned images cannot also require signers or attestations`);
  if (!rule.allowUnsigned && signers.length === 0)
    problems.push(`${where([])}: give signers, or allowUnsigned: true to let images under ${rule.pattern} run unsigned`);
  signers.forEach((s, j) => {
    if ("identityRegexp" in s && s.identityRegexp !== undefined)
      checkPattern(s.identityRegexp, ["signers", j, "identityRegexp"], where, problems);
    if ("issuerRegexp" in s && s.issuerRegexp !== undefined) checkPattern(s.issuerRegexp, ["signers", j, "issuerRegexp"], where, problems);
    if ("signer" in s) {
      const named = doc.signers.find((d) => d.name === s.signer);
      if (!named) problems.push(`${where(["signers", j, "signer"])}: unknown signer "${s.signer}"`);
      else if (!named.sigstore)
        problems.push(`${where(["signers", j, "signer"])}: signer "${s.signer}" has no sigstore identity to sign images with`);
    } else if (!("key" in s)) {
      if ((s.identity === undefined) === (s.identityRegexp === undefined))
        problems.push(`${where(["signers", j])}: give exactly one of identity or identityRegexp`);
      if ((s.issuer === undefined) === (s.issuerRegexp === undefined))
        problems.push(`${where(["signers", j])}: give exactly one of issuer or issuerRegexp`);
    }
  });
  rule.attestations?.forEach((a, j) =>
    a.fields?.forEach((f, k) => {
      if ("matches" in f) checkPattern(f.matches, ["attestations", j, "fields", k, "matches"], where, problems);
    }),
  );
}

/** A pattern a policy gives, matched on RE2 in linear time: a crafted commit message cannot make it backtrack. */
export interface MessageRule {
  /** Whether the pattern matches anywhere in `text` (RegExp.test's meaning). */
  test(text: string): boolean;
  source: string;
}

/** Compiles an RE2 pattern (Go's syntax); throws the RE2 parser's error for one that is not valid. */
export function compileMessageRule(pattern: string): MessageRule {
  const compiled = RE2JS.compile(pattern);
  return { test: (text) => compiled.test(text), source: pattern };
}

function checkPattern(
  pattern: string,
  path: readonly PropertyKey[],
  where: (p: readonly PropertyKey[]) => string,
  problems: string[],
): void {
  try {
    compileMessageRule(pattern);
  } catch (err) {
    problems.push(`${where(path)}: invalid regular expression (RE2 syntax): ${(err as Error).message}`);
  }
}

/** A group's members; a name that is not one of the policy's own groups (say "constructor") has none. */
function ownGroup(policy: TrustPolicyDocument, group: string): readonly string[] {
  return Object.hasOwn(policy.groups, group) ? policy.groups[group]! : [];
}

/** Expands signer names and "group:NAME" references into signer names. */
export function expandPrincipals(policy: TrustPolicyDocument, refs: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const r of refs) {
    if (r.startsWith("group:")) for (const m of ownGroup(policy, r.slice(6))) out.add(m);
    else out.add(r);
  }
  return out;
}

/**
 * Something that identifies one person to the gate: a key, a sigstore identity, or a name an e-mail or
 * principal stands for. `signer` is the signer name it counts as; `where` is where the policy says so.
 */
export interface IdentityClaim {
  /** Kind-prefixed and normalised, e.g. "ssh key SHA256:…", "OpenPGP key <fingerprint>", "name alice@example.com". */
  what: string;
  signer: string;
  where: string;
}

/**
 * One person, one signer: the same key, sigstore identity, principal or e-mail under two signer names
 * would let one person count twice towards a threshold, or approve their own change under a second name
 * when authors are excluded. Refused as bad input naming both places. The revision gate's keyring calls
 * this too, with the OpenPGP fingerprints (primary and subkeys) it parses.
 */
export function checkOneSignerPerPerson(claims: Iterable<IdentityClaim>): void {
  const first = new Map<string, IdentityClaim>();
  const problems: string[] = [];
  for (const claim of claims) {
    const earlier = first.get(claim.what);
    if (!earlier) first.set(claim.what, claim);
    else if (earlier.signer !== claim.signer) {
      problems.push(
        `${claim.where}: ${claim.what} is signer "${claim.signer}" here and signer "${earlier.signer}" at ${earlier.where}; ` +
          "one person must have one signer name (merge the two entries)",
      );
    }
  }
  if (problems.length > 0) throw new InputError(`invalid trust policy:\n  ${problems.join("\n  ")}`);
}

/** The keys, sigstore identities and names each signer of the policy (and of its allowed_signers file) is known by. */
function* identityClaims(policy: TrustPolicy): Generator<IdentityClaim> {
  for (const [i, signer] of policy.doc.signers.entries()) {
    yield { what: `name ${signer.name}`, signer: signer.name, where: policy.where(["signers", i, "name"]) };
    for (const [j, line] of asList(signer.ssh).entries()) {
      const where = policy.where(["signers", i, "ssh", ...(Array.isArray(signer.ssh) ? [j] : [])]);
      const entry = sshEntry(() => parseAllowedSignerLine(line, where, false));
      if (entry) yield { what: sshKeyClaim(entry), signer: signer.name, where };
    }
    for (const [j, id] of asList(signer.sigstore).entries()) {
      const where = policy.where(["signers", i, "sigstore", ...(Array.isArray(signer.sigstore) ? [j] : [])]);
      yield { what: `sigstore identity ${id.identity} (issuer ${id.issuer})`, signer: signer.name, where };
      yield { what: `name ${id.identity}`, signer: signer.name, where };
    }
  }
  if (policy.allowedSigners) yield* allowedSignersClaims(policy.allowedSigners);
}

/**
 * An allowed_signers line names its signer by its first plain principal (as the keyring does), and
 * every other plain principal on it is that same person. A cert-authority line is not one person: the
 * certificate's principal is, so its key may stand on several lines.
 */
function* allowedSignersClaims(file: { file: string; text: string }): Generator<IdentityClaim> {
  const entries = sshEntry(() => parseAllowedSigners(file.text, file.file)) ?? [];
  for (const entry of entries) {
    if (entry.certAuthority) continue;
    const plain = entry.principals.filter((p) => !/[*?!]/.test(p));
    const signer = plain[0] ?? entry.principals[0]!;
    yield { what: sshKeyClaim(entry), signer, where: entry.source };
    for (const principal of plain) yield { what: `name ${principal}`, signer, where: entry.source };
  }
}

const asList = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** The same key is the same wire blob, whatever options (cert-authority included) or comment surround it. */
function sshKeyClaim(entry: SshTrustEntry): string {
  return `SSH key ${entry.key.type} ${entry.key.fingerprint}`;
}

/** A key that does not parse is the keyring's to report, with its own message; here it claims nothing. */
function sshEntry<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch {
    return undefined;
  }
}
