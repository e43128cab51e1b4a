// Findings as the verdict's checks: one failing check per finding, naming the commit, file, line and rule,
// with the fingerprint in place of the secret. This is also the revision gate's secrets check.
import { resolveRevision, type Repo } from "../git/repo.ts";
import type { TrustPolicy } from "../trust/policy.ts";
import type { Check } from "../core/verdict.ts";
import { Allowlist } from "./allowlist.ts";
import { scanHistory, scanWorkTree, type HistoryRange, type RepoFinding, type ScanEvent, type Unscanned } from "./scan-repo.ts";
import { MAX_SCANNED_BYTES } from "./scan-text.ts";

export const SECRETS_GATE = "secrets";

export function findingCheck(f: RepoFinding): Check {
  const where = `${f.path}:${f.line}`;
  const what = f.commit
    ? `${f.description} added in ${where} (fingerprint ${f.fingerprint}): rotate it, since it stays in the history, and remove it from the branch; keep secrets in SOPS-encrypted files, SealedSecrets or ExternalSecrets. If it is not a secret, allow the fingerprint in the trust policy's secrets.allow`
    : `${f.description} in ${where} (fingerprint ${f.fingerprint}): remove it before committing and keep it in a SOPS-encrypted file, a SealedSecret or an ExternalSecret. If it is not a secret, allow the fingerprint in the trust policy's secrets.allow`;
  return {
    gate: SECRETS_GATE,
    rule: f.rule,
    status: "fail",
    subject: f.commit ?? where,
    message: what,
    code: "secret-found",
    location: { file: f.path, line: f.line },
  };
}

export function unscannedCheck(u: Unscanned): Check {
  const mib = (n: number) => `${(n / (1 << 20)).toFixed(1)} MiB`;
  return {
    gate: SECRETS_GATE,
    rule: "unscanned-file",
    status: "fail",
    subject: u.commit ?? u.path,
    message: `${u.path} is ${mib(u.bytes)}, more than the ${mib(MAX_SCANNED_BYTES)} the scanner reads: keep large files out of the configuration repository, or allow its path in the trust policy's secrets.allow`,
    code: "file-too-large",
    location: { file: u.path, line: 1 },
  };
}

export function eventCheck(e: ScanEvent): Check {
  return "finding" in e ? findingCheck(e.finding) : unscannedCheck(e.unscanned);
}

export type ScanTarget = { workTree: string } | HistoryRange;

/** The checks for a target, and a passing one saying what was scanned when nothing was found. */
export async function* scanChecks(
  repo: Repo,
  target: ScanTarget,
  allowlist: Allowlist,
  onProgress?: (n: number) => void,
): AsyncGenerator<Check> {
  const opts = { allowlist, ...(onProgress ? { onProgress } : {}) };
  let scanned = 0;
  let failed = false;
  const counting = (n: number) => {
    scanned = n;
    onProgress?.(n);
  };
  const events =
    "workTree" in target
      ? scanWorkTree(target.workTree, { ...opts, onProgress: counting })
      : scanHistory(repo, target, { ...opts, onProgress: counting });
  for await (const e of events) {
    failed = true;
    yield eventCheck(e);
  }
  if (!failed)
    yield {
      gate: SECRETS_GATE,
      rule: "no-secrets",
      status: "pass",
      subject: describe(target),
      message: `${scanned} ${"workTree" in target ? "files" : "commits"} scanned, no secrets found`,
      code: "no-secrets",
    };
}

function describe(target: ScanTarget): string {
  if ("workTree" in target) return "working tree";
  if ("allHistory" in target) return "all history";
  return target.from ? `${target.from}..${target.to}` : target.to;
}

/**
 * The revision gate's secrets check: every commit in `from..to` (the commits the gate verifies), with the
 * allowlist of the trust policy in force. One failing check per secret a commit adds.
 */
export async function secretChecks(repo: Repo, range: { to: string; from?: string }, policy?: TrustPolicy): Promise<Check[]> {
  const allowlist = Allowlist.fromPolicy(policy);
  const to = (await resolveRevision(repo, range.to)).commit;
  const from = range.from === undefined ? undefined : (await resolveRevision(repo, range.from)).commit;
  const checks: Check[] = [];
  for await (const c of scanChecks(repo, from ? { to, from } : { to }, allowlist)) checks.push(c);
  return checks;
}
