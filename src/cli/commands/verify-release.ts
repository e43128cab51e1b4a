import { loadTrustPolicyFile } from "../../core/trust-policy.ts";
import { loadTrustedRootFile } from "../../sigstore/trusted-root.ts";
import { openRepo } from "../../git/repo.ts";
import { findEnvironment } from "../../revision/gate.ts";
import { verifierPool } from "../../revision/verifier-pool.ts";
import { openRelease } from "../../approvals/index.ts";
import { verdictSink } from "../output.ts";
import { required, type Command } from "../command.ts";

export const verifyRelease: Command = {
  summary: "Release verdict for one environment: the revision gate, approvals and promotion, as one verdict.",
  usage: "vigil verify release --repo PATH|URL --trust FILE --env ENV [--rev REV] [--from REV] [--trusted-root FILE] [--json]",
  help: [
    "  --repo PATH|URL       config repository (a URL is fetched read-only, refs/vigil/* with it)",
    "  --trust FILE          root trust policy (vigil.trust.yaml); .vigil/trust.yaml in the repo chains from it",
    "  --env ENV             the environment released to: its commit, approvals and promotion rules apply",
    "  --rev REV             the revision to release (default: the environment's branch, else HEAD)",
    "  --from REV            the environment's last deployed revision: history safety, rollback approvals, and the",
    "                        range whose authors may not approve (without it, the whole history)",
    "  --trusted-root FILE   Sigstore trusted_root.json for x509 (gitsign) signatures",
  ].join("\n"),
  options: {
    repo: { type: "string" },
    trust: { type: "string" },
    env: { type: "string" },
    rev: { type: "string" },
    from: { type: "string" },
    "trusted-root": { type: "string" },
  },
  async run(values) {
    const rootPolicy = await loadTrustPolicyFile(required(values, "trust", this));
    const environment = required(values, "env", this);
    const rev = (values.rev as string | undefined) ?? findEnvironment(rootPolicy, environment).branch ?? "HEAD";
    const trustedRoot = values["trusted-root"] ? loadTrustedRootFile(values["trusted-root"] as string) : undefined;
    const repo = await openRepo(required(values, "repo", this));
    const pool = verifierPool();
    try {
      const release = await openRelease({
        repo, rootPolicy, environment, rev, verifySignature: pool.verify,
        ...(values.from ? { from: values.from as string } : {}),
        ...(trustedRoot && { trustedRoot }),
      });
      const sink = verdictSink(release.subject, values.json === true);
      for await (const c of release.checks()) sink.add(c);
      return sink.end() === "pass" ? 0 : 1;
    } finally {
      await pool.close();
      repo.close();
    }
  },
};
