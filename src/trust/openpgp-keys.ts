// OpenPGP public keys a trust policy names, read with openpgp.js. Verifying a signature against them is
// src/git/signatures/openpgp.ts.
import * as openpgp from "openpgp";

export interface OpenPgpTrustEntry {
  identity: string;
  key: openpgp.PublicKey;
  source: string;
}

/** Parses one or more armored public keys for signer `identity`. Throws naming `source`. */
export async function parseOpenPgpKeys(armored: string, identity: string, source: string): Promise<OpenPgpTrustEntry[]> {
  let keys: openpgp.Key[];
  try {
    keys = await openpgp.readKeys({ armoredKeys: armored });
  } catch (e) {
    throw new Error(`${source}: not an OpenPGP public key block (${(e as Error).message})`);
  }
  if (keys.some((k) => k.isPrivate())) throw new Error(`${source}: is a private key; give the public key (gpg --export --armor)`);
  return keys.map((key) => ({ identity, key: key as openpgp.PublicKey, source }));
}
