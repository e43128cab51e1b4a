// A VEX document can be required to be signed: its Sigstore bundle (FILE.sigstore.json beside it, as
// cosign sign-blob --bundle writes it, or an attestation whose subject is the file) is verified as the
// artifact gate verifies signatures and attestations, by a key or a certificate identity. An unsigned
// or wrongly signed VEX suppresses nothing.
import { existsSync, readFileSync } from "node:fs";
import { loadBundleFile } from "../sigstore/bundle.ts";
import { VerificationFailure } from "../sigstore/failure.ts";
import type { TrustedRoot } from "../trust/trusted-root.ts";
import { verifyBlobBundle, type SignerPolicy } from "../sigstore/verify.ts";

export interface VexSignerPolicy {
  signer: SignerPolicy;
  trustedRoot?: TrustedRoot;
  /** Key-signed bundles made offline carry no log entry (cosign's --insecure-ignore-tlog). */
  requireTlog: boolean;
}

export function bundlePathFor(vexPath: string): string {
  return `${vexPath}.sigstore.json`;
}

/** Verifies the VEX file's bundle; returns who signed it, or throws VerificationFailure with the reason. */
export function verifyVexSignature(vexPath: string, policy: VexSignerPolicy): string {
  const bundlePath = bundlePathFor(vexPath);
  if (!existsSync(bundlePath)) throw new VerificationFailure("signature", `${vexPath} has no signature: a signed VEX is required and ${bundlePath} is not there (make it with cosign sign-blob --bundle or vigil sign blob)`);
  const bundle = loadBundleFile(bundlePath);
  const verified = verifyBlobBundle(bundle, { bytes: readFileSync(vexPath) }, {
    signer: policy.signer,
    ...(policy.trustedRoot && { trustedRoot: policy.trustedRoot }),
    requireTlog: policy.requireTlog,
  });
  return verified.signer;
}
