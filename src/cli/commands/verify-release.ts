import { InputError } from "../../core/errors.ts";
import { loadTrustPolicyFile } from "../../trust/policy.ts";
import { trustedRootOption } from "../options.ts";
import { branchRef, openRepo } from "../../git/repo.ts";
import { findEnvironment } from "../../revision/gate.ts";
import { verifierPool } from "../../revision/verifier-pool.ts";
import { openRelease } from "../../approvals/index.ts";
import { check, makeVerdict, type Check } from "../../core/verdict.ts";
import { readFileSync } from "node:fs";
import { toSarif } from "../sarif.ts";
import { readInputText } from "../../core/input-file.ts";
import { openAuditLog, LogFollower, type Evidence } from "../../audit/index.ts";
import { IntegrityError } from "../../audit/proof.ts";
import { redactUrl } from "../../audit/store.ts";
import { verdictSink } from "../output.ts";
import { required, defineCommand } from "../command.ts";

export const verifyRelease = defineCommand({
  usage:
    "vigil verify release --repo PATH|URL --trust FILE --env ENV [--rev REV] [--from REV] [--trusted-root FILE] [--log DIR|URL [--checkpoint FILE]] [-o table|json|sarif] [--json]",
  help: [
    "  --repo PATH|URL       config repository (a URL is fetched read-only, refs/vigil/* with it)",
    "  --trust FILE          root trust policy (vigil.trust.yaml); .vigil/trust.yaml in the repo chains from it",
    "  --env ENV             the environment released to: its commit, approvals and promotion rules apply",
    "  --rev REV             the revision to release (default: the environment's branch, else HEAD)",
    "  --from REV            the environment's last deployed revision: history safety, rollback approvals, and the",
    "                        range whose authors may not approve (without it, the whole history)",
    "  --trusted-root FILE   Sigstore trusted_root.json for x509 (gitsign) signatures",
    "  --log DIR|URL         the agent's audit log: its deployment records and applies, first sightings (key validity",
    "                        is judged at them) and the claims it saw, so a deleted withdrawal blocks: the agent's verdict",
    "  --checkpoint FILE     a checkpoint of that log kept outside it (the agent's ConfigMap vigil-audit-checkpoint):",
    "                        the log must extend it; without it a log rewritten whole cannot be told from the real one",
    "  -o, --output FORMAT   table (default), json (the verdict) or sarif (SARIF 2.1.0 for code scanning, a pre-merge",
    "                        check: a result not tied to a file is shown at the --trust file, line 1)",
  ].join("\n"),
  options: {
    repo: { type: "string" },
    trust: { type: "string" },
    env: { type: "string" },
    rev: { type: "string" },
    from: { type: "string" },
    "trusted-root": { type: "string" },
    log: { type: "string" },
    checkpoint: { type: "string" },
    output: { type: "string", short: "o" },
  },
  async run(values) {
    const format = values.json ? "json" : (values.output ?? "table");
    if (!["table", "json", "sarif"].includes(format))
      throw new InputError(`-o must be table, json or sarif, not "${format}"\nusage: ${this.usage}`);
    const trustFile = required(values, "trust", this);
    const rootPolicy = await loadTrustPolicyFile(trustFile);
    const environment = required(values, "env", this);
    const rev = values.rev ?? branchRef(findEnvironment(rootPolicy, environment).branch);
    const trustedRoot = trustedRootOption(values);
    const saved = values.checkpoint
      ? { note: readInputText(values.checkpoint, "the saved checkpoint"), where: values.checkpoint }
      : undefined;
    if (saved && !values.log) throw new InputError("--checkpoint is a checkpoint of the audit log: give --log too");
    const evidence = values.log ? await readEvidence(values.log, saved) : undefined;
    const repo = await openRepo(required(values, "repo", this));
    const pool = verifierPool();
    try {
      const release = await openRelease({
        repo,
        rootPolicy,
        environment,
        rev,
        verifySignature: pool.verify,
        ...(values.from ? { from: values.from } : {}),
        ...(trustedRoot && { trustedRoot }),
        ...(evidence && "evidence" in evidence && { evidence: evidence.evidence }),
      });
      if (format === "sarif") return await printSarif(release, evidence?.check, trustFile);
      const sink = verdictSink(release.subject, format === "json");
      if (evidence) sink.add(evidence.check);
      for await (const c of release.checks()) sink.add(c);
      return sink.end() === "pass" ? 0 : 1;
    } finally {
      await pool.close();
      repo.close();
    }
  },
});

/** The whole verdict as SARIF; checks not tied to a file are placed at the trust policy, since code scanning shows only located results. */
async function printSarif(
  release: Awaited<ReturnType<typeof openRelease>>,
  evidence: Check | undefined,
  trustFile: string,
): Promise<number> {
  const located = (c: Check): Check => (c.location ? c : { ...c, location: { file: trustFile, line: 1 } });
  const checks: Check[] = evidence ? [located(evidence)] : [];
  for await (const c of release.checks()) checks.push(located(c));
  const verdict = makeVerdict(release.subject, checks);
  const version = (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;
  process.stdout.write(JSON.stringify(toSarif(verdict, version), null, 2) + "\n");
  return verdict.verdict === "pass" ? 0 : 1;
}

/** The log's evidence, verified as the agent verifies it, or the failing check that blocks the release. */
async function readEvidence(
  location: string,
  saved: { note: string; where: string } | undefined,
): Promise<{ evidence?: Evidence; check: ReturnType<typeof check> }> {
  const where = redactUrl(location);
  let log: Awaited<ReturnType<typeof openAuditLog>> | undefined;
  try {
    log = await openAuditLog(location);
    const follower = new LogFollower(where);
    const latest = await follower.catchUp(log, saved);
    return {
      evidence: follower.evidence,
      check: check({
        gate: "audit",
        rule: "evidence",
        status: saved ? "pass" : "warn",
        subject: where,
        message: saved
          ? `${latest.size} entries, each checked against the signed checkpoint, and the log extends the checkpoint in ${saved.where}`
          : `${latest.size} entries, each checked against the log's signed checkpoint, by the key the log names: without --checkpoint, a log rewritten whole and signed again cannot be told from the real one`,
        code: saved ? "log-extends-checkpoint" : "no-checkpoint-given",
      }),
    };
  } catch (e) {
    if (!(e instanceof IntegrityError)) throw e;
    return {
      check: check({
        gate: "audit",
        rule: "evidence",
        status: "fail",
        subject: where,
        message: `the audit log does not verify: ${e.message}; no release on evidence that may have been deleted, rewound or edited`,
        code: "audit-log-invalid",
      }),
    };
  } finally {
    await log?.close();
  }
}
