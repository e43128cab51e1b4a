import { InputError } from "../../core/errors.ts";
import { namePattern } from "../../api/trust-policy.ts";
import { isRemote, openRepo, resolveRevision } from "../../git/repo.ts";
import { loadPrivateKeyFile } from "../../sigstore/keys.ts";
import { revisionOf, writeDeploymentRecord } from "../../approvals/index.ts";
import { formatTime, parseTime } from "../../api/claims.ts";
import { keyPassword } from "../password.ts";
import { required, defineCommand } from "../command.ts";

/** Records, with an environment's agent key, that a revision runs there healthy (docs/approvals.md). */
export const recordDeployment = defineCommand({
  usage: "vigil record deployment --repo PATH --env ENV --rev REV --key FILE [--deployed-at TIME] [--healthy-at TIME] [--json]",
  help: [
    "  --repo PATH          a local clone; publish with: git push origin 'refs/vigil/deployments/*:refs/vigil/deployments/*'",
    "  --env ENV            the environment it was deployed to",
    "  --rev REV            the revision deployed (recorded as its exact commit and tree)",
    "  --key FILE           the environment's agent key: a cosign private key (vigil generate-key-pair; password from COSIGN_PASSWORD)",
    "  --deployed-at TIME   when it was applied, UTC like 2026-01-31T12:00:00Z (default: --healthy-at)",
    "  --healthy-at TIME    when it was first healthy; the soak counts from here (default: now)",
  ].join("\n"),
  options: {
    repo: { type: "string" },
    env: { type: "string" },
    rev: { type: "string" },
    key: { type: "string" },
    "deployed-at": { type: "string" },
    "healthy-at": { type: "string" },
  },
  async run(values) {
    const location = required(values, "repo", this);
    if (isRemote(location)) throw new InputError("--repo must be a local clone: Vigil never writes to a remote");
    const environment = required(values, "env", this);
    if (!namePattern.test(environment))
      throw new InputError(`--env "${environment}" is not an environment name (letters, digits and . _ @ + -)`);
    const healthyAt = values["healthy-at"]
      ? timeOption(values["healthy-at"], "--healthy-at")
      : new Date(Math.floor(Date.now() / 1000) * 1000);
    const deployedAt = values["deployed-at"] ? timeOption(values["deployed-at"], "--deployed-at") : healthyAt;
    const key = loadPrivateKeyFile(required(values, "key", this), await keyPassword("decrypt"));
    const repo = await openRepo(location);
    try {
      const { commit } = await resolveRevision(repo, required(values, "rev", this));
      const revision = await revisionOf(repo, commit);
      const stored = await writeDeploymentRecord({ gitDir: repo.gitDir, environment, revision, key, deployedAt, healthyAt });
      process.stdout.write(
        values.json
          ? JSON.stringify({ ...stored, envelope: JSON.parse(stored.envelope) }) + "\n"
          : `recorded ${commit} (tree ${revision.tree}) deployed to ${environment} at ${formatTime(deployedAt)}, healthy from ${formatTime(healthyAt)}\n` +
              `stored at ${stored.ref}\npush it: git push origin '${stored.ref}'\n`,
      );
      return 0;
    } finally {
      repo.close();
    }
  },
});

function timeOption(text: string, option: string): Date {
  const time = parseTime(text);
  if (!time) throw new InputError(`${option} must be a UTC time like 2026-01-31T12:00:00Z, not "${text}"`);
  return time;
}
