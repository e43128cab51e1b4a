import { InputError } from "../../core/errors.ts";
import { parseDuration } from "../../core/duration.ts";
import { namePattern } from "../../api/trust-policy.ts";
import { git, isRemote, openRepo, resolveRevision } from "../../git/repo.ts";
import type { DetachedSigner } from "../../git/signatures/sign.ts";
import { revisionOf, writeApproval, type Claim } from "../../approvals/index.ts";
import { formatTime } from "../../api/claims.ts";
import { required, defineCommand, type Values } from "../command.ts";

/** Signs an approval (or its withdrawal) of one commit for one environment (docs/approvals.md). */
export const approve = defineCommand({
  usage:
    "vigil approve --repo PATH --env ENV --rev REV (--key SSH_PRIVATE_KEY | --gpg-key KEYID | --x509-program PROG [--x509-key ID]) [--expires DURATION] [--rollback | --withdraw] [--json]",
  help: [
    "  --repo PATH           a local clone; publish with: git push origin 'refs/vigil/approvals/*:refs/vigil/approvals/*'",
    "  --env ENV             the environment the approval is for",
    "  --rev REV             the revision approved (bound to its exact commit and tree)",
    "  --key FILE            sign with this SSH private key (ssh-keygen -Y sign, namespace vigil-approval)",
    "  --gpg-key KEYID       sign with this OpenPGP key (gpg --detach-sign)",
    "  --x509-program PROG   sign with an x509 program as git runs gpg.x509.program (gitsign, gpgsm)",
    "  --x509-key ID         the key the x509 program signs with (its -u), if it needs one",
    "  --expires DURATION    the approval stops counting after this long (e.g. 24h, 7d)",
    "  --rollback            approve moving the environment back to REV (the revision gate's rollback rule)",
    "  --withdraw            withdraw every approval you made of REV for ENV until now",
  ].join("\n"),
  options: {
    repo: { type: "string" },
    env: { type: "string" },
    rev: { type: "string" },
    key: { type: "string" },
    "gpg-key": { type: "string" },
    "x509-program": { type: "string" },
    "x509-key": { type: "string" },
    expires: { type: "string" },
    rollback: { type: "boolean" },
    withdraw: { type: "boolean" },
  },
  async run(values) {
    const location = required(values, "repo", this);
    if (isRemote(location)) throw new InputError("--repo must be a local clone: Vigil never writes to a remote");
    const environment = required(values, "env", this);
    if (!namePattern.test(environment))
      throw new InputError(`--env "${environment}" is not an environment name (letters, digits and . _ @ + -)`);
    const signer = signerOf(values, this.usage);
    if (values.withdraw && (values.rollback || values.expires))
      throw new InputError("--withdraw withdraws every approval of REV for ENV: it takes no --rollback or --expires");
    const repo = await openRepo(location);
    try {
      const { commit } = await resolveRevision(repo, required(values, "rev", this));
      const revision = await revisionOf(repo, commit);
      const approver = await gitIdentity(repo.gitDir);
      const at = new Date(Math.floor(Date.now() / 1000) * 1000);
      const claim: Extract<Claim, { type: "approval" | "withdrawal" }> = values.withdraw
        ? { type: "withdrawal", revision, environment, approver, at }
        : {
            type: "approval",
            revision,
            environment,
            approver,
            at,
            kind: values.rollback ? "rollback" : "deploy",
            ...(values.expires && { expires: new Date(at.getTime() + parseDuration(values.expires, "--expires")) }),
          };
      const stored = await writeApproval(repo.gitDir, claim, signer);
      const what = claim.type === "withdrawal" ? "withdrew approvals of" : `approved ${claim.kind} of`;
      process.stdout.write(
        values.json
          ? JSON.stringify({ ...stored, envelope: JSON.parse(stored.envelope) }) + "\n"
          : `${what} ${commit} (tree ${revision.tree}) for ${environment} at ${formatTime(at)}\nstored at ${stored.ref}\npush it: git push origin '${stored.ref}'\n`,
      );
      return 0;
    } finally {
      repo.close();
    }
  },
});

function signerOf(values: Values<typeof approve.options>, usage: string): DetachedSigner {
  const { key, "gpg-key": gpgKey, "x509-program": x509Program, "x509-key": keyId } = values;
  const oneOf = "give exactly one of --key, --gpg-key or --x509-program";
  if ([key, gpgKey, x509Program].filter((v) => v !== undefined).length !== 1) throw new InputError(`${oneOf}\nusage: ${usage}`);
  if (keyId && x509Program === undefined) throw new InputError("--x509-key goes with --x509-program");
  if (key !== undefined) return { ssh: key };
  if (gpgKey !== undefined) return { openpgp: gpgKey };
  if (x509Program !== undefined) return { x509Program, ...(keyId ? { keyId } : {}) };
  throw new InputError(`${oneOf}\nusage: ${usage}`);
}

/** Who the approver says they are (git's user.name and user.email); what counts is whose key signed. */
async function gitIdentity(gitDir: string): Promise<string> {
  try {
    return (await git(gitDir, ["var", "GIT_COMMITTER_IDENT"])).trim().replace(/ \d+ [+-]\d{4}$/, "");
  } catch {
    throw new InputError(
      "git knows no identity for you: set user.name and user.email (git config), which the approval names as its approver",
    );
  }
}
