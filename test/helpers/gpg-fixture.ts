// Real GnuPG keys in a throwaway GNUPGHOME, and git commits signed through git's own gpg signing.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Signer } from "./git-fixture.ts";
import { run } from "./tools.ts";

export class GpgHome {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  gpg(args: string[], input?: string, opts: { fakedTime?: string } = {}): string {
    const time = opts.fakedTime ? ["--faked-system-time", `${opts.fakedTime}!`, "--ignore-time-conflict"] : [];
    return run("gpg", ["--batch", "--pinentry-mode", "loopback", "--passphrase", "", ...time, ...args], {
      env: { GNUPGHOME: this.dir },
      ...(input !== undefined ? { input } : {}),
    });
  }

  /** Makes a key and returns its fingerprint. `usage` "sign" or "cert" (then add a signing subkey). */
  generate(uid: string, algo: string, usage = "sign", expire = "never", fakedTime?: string): string {
    this.gpg(["--quick-gen-key", uid, algo, usage, expire], undefined, fakedTime ? { fakedTime } : {});
    return this.fingerprint(uid);
  }

  fingerprint(uid: string): string {
    const out = this.gpg(["--list-keys", "--with-colons", uid]);
    return /^fpr:+([0-9A-F]+):/m.exec(out)![1]!;
  }

  addSigningSubkey(fpr: string, algo = "ed25519"): void {
    this.gpg(["--quick-add-key", fpr, algo, "sign", "never"]);
  }

  exportPublic(fpr: string): string {
    return this.gpg(["--export", "--armor", fpr]);
  }

  sign(fpr: string, data: Buffer | string, opts: { digest?: string; fakedTime?: string } = {}): string {
    return this.gpg(
      ["--armor", "--detach-sign", "--local-user", fpr, ...(opts.digest ? ["--digest-algo", opts.digest] : [])],
      data.toString(),
      opts.fakedTime ? { fakedTime: opts.fakedTime } : {},
    );
  }

  /** Imports the revocation certificate gpg wrote at key generation: the key is revoked. */
  revoke(fpr: string): void {
    const cert = readFileSync(
      join(this.dir, "openpgp-revocs.d", readdirSync(join(this.dir, "openpgp-revocs.d")).find((f) => f.startsWith(fpr))!),
      "utf8",
    );
    this.gpg(["--import"], cert.replace(/^:-----BEGIN/m, "-----BEGIN"));
  }

  revokeSubkey(fpr: string): void {
    this.gpg(["--command-fd", "0", "--edit-key", fpr], "key 1\nrevkey\ny\n0\n\ny\nsave\n");
  }

  /** A git signer that signs through `gpg` with this home's key. */
  signer(name: string, fpr: string): Signer {
    return {
      name,
      email: `${name}@example.com`,
      policyEntry: { name, openpgp: this.exportPublic(fpr) },
      gitConfig: ["-c", "gpg.format=openpgp", "-c", `gpg.program=${this.program()}`, "-c", `user.signingkey=${fpr}`],
    };
  }

  private program(): string {
    return join(this.dir, "..", "gpg-wrapper.sh");
  }
}

/** git runs gpg.program without our environment tweaks; a wrapper pins GNUPGHOME and batch mode. */
export function gpgWrapper(home: GpgHome): string {
  const path = join(home.dir, "..", "gpg-wrapper.sh");
  run("sh", [
    "-c",
    `printf '%s\\n' '#!/bin/sh' 'exec gpg --homedir "${home.dir}" --batch --pinentry-mode loopback --passphrase "" "$@"' > "${path}" && chmod +x "${path}"`,
  ]);
  return path;
}
