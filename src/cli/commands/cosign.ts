import { createHash } from "node:crypto";
import { InputError } from "../../core/errors.ts";
import { parseCommit } from "../../git/objects.ts";
import { isRemote, openRepo, resolveRevision, writeBlobRef } from "../../git/repo.ts";
import { cosignRefPrefix } from "../../revision/gate.ts";
import { signDetached } from "../../git/signatures/sign.ts";
import { required, defineCommand } from "../command.ts";

/** Makes a detached co-signature of a commit, for commits that change .vigil/ (see docs/revision-gate.md). */
export const cosign = defineCommand({
  usage: "vigil cosign --repo PATH --rev REV (--key SSH_PRIVATE_KEY | --gpg-key KEYID) [--json]",
  help: [
    "  --repo PATH        a local clone (co-signatures are pushed like any ref: git push origin 'refs/vigil/*')",
    "  --rev REV          the commit to co-sign",
    "  --key FILE         sign with this SSH private key (ssh-keygen -Y sign, namespace git)",
    "  --gpg-key KEYID    sign with this OpenPGP key (gpg --detach-sign)",
  ].join("\n"),
  options: { repo: { type: "string" }, rev: { type: "string" }, key: { type: "string" }, "gpg-key": { type: "string" } },
  async run(values) {
    const location = required(values, "repo", this);
    if (isRemote(location)) throw new InputError("--repo must be a local clone: Vigil never writes to a remote");
    const repo = await openRepo(location);
    try {
      const { commit } = await resolveRevision(repo, required(values, "rev", this));
      const object = await repo.objects.read(commit);
      const payload = parseCommit(commit, object!.data).payload;
      const signature = sign(payload, values.key, values["gpg-key"], this.usage);
      const ref = `${cosignRefPrefix}${commit}/${createHash("sha256").update(signature).digest("hex").slice(0, 16)}`;
      const id = await writeBlobRef(repo.gitDir, ref, signature);
      process.stdout.write(
        values.json
          ? JSON.stringify({ commit, ref, signature: id }) + "\n"
          : `co-signed ${commit}\nstored at ${ref}\npush it: git push origin '${ref}'\n`,
      );
      return 0;
    } finally {
      repo.close();
    }
  },
});

function sign(payload: Buffer, sshKey: string | undefined, gpgKey: string | undefined, usage: string): string {
  if (!!sshKey === !!gpgKey) throw new InputError(`give exactly one of --key or --gpg-key\nusage: ${usage}`);
  return signDetached(payload, sshKey ? { ssh: sshKey } : { openpgp: gpgKey! });
}
