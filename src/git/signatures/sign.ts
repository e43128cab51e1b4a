// Making detached signatures with the programs git itself runs to sign: ssh-keygen -Y sign (SSHSIG, in a
// namespace), gpg (OpenPGP), or an x509 program through git's gpg.x509.program interface (gitsign for
// Sigstore keyless, gpgsm). The output is the armored signature, as git stores it in a commit.
import { execFileSync } from "node:child_process";
import { InputError, UnavailableError } from "../../core/errors.ts";

/** Who signs: an SSH private key file, an OpenPGP key id for gpg, or an x509 signing program (and its key id). */
export type DetachedSigner = { ssh: string } | { openpgp: string } | { x509Program: string; keyId?: string };

/** The armored detached signature over `payload`; `namespace` is SSHSIG's (OpenPGP and x509 have none). */
export function signDetached(payload: Buffer, signer: DetachedSigner, namespace = "git"): string {
  const [cmd, args] = command(signer, namespace);
  try {
    return execFileSync(cmd, args, { input: payload, stdio: ["pipe", "pipe", "pipe"] }).toString();
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer };
    if (err.code === "ENOENT") throw new UnavailableError(`${cmd} is not installed`);
    throw new InputError(`${cmd} could not sign: ${err.stderr?.toString().trim() || e}`);
  }
}

function command(signer: DetachedSigner, namespace: string): [string, string[]] {
  if ("ssh" in signer) return ["ssh-keygen", ["-q", "-Y", "sign", "-n", namespace, "-f", signer.ssh]];
  if ("openpgp" in signer) return ["gpg", ["--batch", "--armor", "--detach-sign", "--local-user", signer.openpgp]];
  // What git runs for gpg.format=x509: "<program> --status-fd=2 -bsau <key>".
  return [signer.x509Program, ["--status-fd=2", "-bsa", ...(signer.keyId ? ["-u", signer.keyId] : [])]];
}
