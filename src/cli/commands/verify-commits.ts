import { loadTrustPolicyFile } from "../../trust/policy.ts";
import { integerOption } from "../options.ts";
import { trustedRootOption } from "../options.ts";
import { openRepo, resolveBranch, type Repo } from "../../git/repo.ts";
import { findEnvironment, openRevisionGate, type RollbackJudge } from "../../revision/gate.ts";
import { verifierPool } from "../../revision/verifier-pool.ts";
import { clearProgress, progress, verdictSink } from "../output.ts";
import { required, defineCommand } from "../command.ts";

export const verifyCommits = defineCommand({
  usage: "vigil verify commits --repo PATH|URL --trust FILE [--from REV] [--to REV] [--env ENV] [--trusted-root FILE] [--json]",
  help: [
    "  --repo PATH|URL       config repository (a URL is fetched read-only into a cache)",
    "  --trust FILE          root trust policy (vigil.trust.yaml); .vigil/trust.yaml in the repo chains from it",
    "  --from REV            last deployed revision (exclusive); history safety is checked against it",
    "  --to REV              target revision: branch, tag or commit (default: the environment's branch, else HEAD)",
    "  --env ENV             apply this environment's rules (commit message) and default branch",
    "  --trusted-root FILE   Sigstore trusted_root.json for x509 (gitsign) signatures",
    "  --workers N           signature-verification threads (default: one per core)",
  ].join("\n"),
  options: {
    repo: { type: "string" },
    trust: { type: "string" },
    from: { type: "string" },
    to: { type: "string" },
    env: { type: "string" },
    "trusted-root": { type: "string" },
    workers: { type: "string" },
  },
  async run(values) {
    const workers = integerOption(values.workers, "--workers", { min: 1 });
    const rootPolicy = await loadTrustPolicyFile(required(values, "trust", this));
    const environment = values.env;
    const branch = environment ? findEnvironment(rootPolicy, environment).branch : undefined;
    const trustedRoot = trustedRootOption(values);
    const repo = await openRepo(required(values, "repo", this));
    const pool = verifierPool(workers);
    try {
      // The environment's branch is refs/heads/<branch> and nothing else: a tag of the same name must not stand in.
      const to = values.to ?? (branch ? (await resolveBranch(repo, branch)).commit : "HEAD");
      const opts = {
        repo,
        rootPolicy,
        to,
        environment,
        trustedRoot,
        ...(values.from ? { from: values.from } : {}),
        verifySignature: pool.verify,
        judgeRollback: lazyRollbackJudge(repo, new Date()),
        onProgress: progress("verified commits:"),
      };
      const gate = await openRevisionGate(opts);
      const sink = verdictSink(gate.subject, values.json === true);
      for await (const c of gate.checks()) sink.add(c);
      clearProgress();
      return sink.end() === "pass" ? 0 : 1;
    } finally {
      await pool.close();
      repo.close();
    }
  },
});

/** The approvals stage is loaded only when a move backwards asks for it: start-up is part of every verification's time. */
function lazyRollbackJudge(repo: Repo, now: Date): RollbackJudge {
  return async (...args) => (await import("../../approvals/rollback.ts")).rollbackJudge(repo, now)(...args);
}
