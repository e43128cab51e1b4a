// A VEX document can be required to be signed: its Sigstore bundle (FILE.sigstore.json beside it, as
// cosign sign-blob --bundle writes it, or an attestation whose subject is the file) is verified as the
// artifact gate verifies signatures and attestations, by a key or a certificate identity. An unsigned
// or wrongly signed VEX suppresses nothing.
import { existsSync, readFileSync } from "node:fs";
import { InputError } from "../core/errors.ts";
import { check, type Check } from "../core/verdict.ts";
import { loadBundleFile } from "../sigstore/bundle.ts";
import { loadPublicKeyFile } from "../sigstore/keys.ts";
import { VerificationFailure } from "../sigstore/failure.ts";
import type { TrustedRoot } from "../trust/trusted-root.ts";
import { verifyBlobBundle, type SignerPolicy } from "../sigstore/verify.ts";
import { GATE } from "./scan.ts";
import { loadVex, type VexStatement } from "./vex.ts";

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
  if (!existsSync(bundlePath))
    throw new VerificationFailure(
      "signature",
      `${vexPath} has no signature: a signed VEX is required and ${bundlePath} is not there (make it with cosign sign-blob --bundle or vigil sign blob)`,
    );
  const bundle = loadBundleFile(bundlePath);
  const verified = verifyBlobBundle(
    bundle,
    { bytes: readFileSync(vexPath) },
    {
      signer: policy.signer,
      ...(policy.trustedRoot && { trustedRoot: policy.trustedRoot }),
      requireTlog: policy.requireTlog,
    },
  );
  return verified.signer;
}

/**
 * Reads each VEX document; when signatures are required (signer given), one whose bundle does not verify
 * suppresses nothing and is a failing vex-signature check (and one that verifies a passing one).
 */
export function loadVexFiles(
  paths: readonly string[],
  signer: VexSignerPolicy | undefined,
): { statements: VexStatement[]; checks: Check[] } {
  const statements: VexStatement[] = [];
  const checks: Check[] = [];
  for (const path of paths) {
    if (signer) {
      try {
        const by = verifyVexSignature(path, signer);
        checks.push(
          check({ gate: GATE, rule: "vex-signature", status: "pass", subject: path, message: `VEX signed by ${by}`, code: "vex-signed" }),
        );
      } catch (e) {
        if (!(e instanceof VerificationFailure)) throw e;
        checks.push(
          check({
            gate: GATE,
            rule: "vex-signature",
            status: "fail",
            subject: path,
            message: `${e.message}; its statements are not applied`,
            code: "vex-signature-invalid",
          }),
        );
        continue;
      }
    }
    statements.push(...loadVex(path, statements.length));
  }
  return { statements, checks };
}

/** An environment's VEX signers, as the agent configuration names them (one of a key file or a certificate identity). */
export interface VexSignatureConfig {
  /** A PEM public key file (cosign.pub). */
  key?: string;
  identity?: string;
  issuer?: string;
  /** Accept key-signed bundles without a transparency-log entry (cosign's --insecure-ignore-tlog). */
  insecureIgnoreTlog?: boolean;
}

/** The signer policy for a configuration; `where` names the configuration field in errors. */
export function vexSignerPolicy(config: VexSignatureConfig, where: string, trustedRoot?: TrustedRoot): VexSignerPolicy {
  const requireTlog = config.insecureIgnoreTlog !== true;
  if (config.key !== undefined) {
    if (config.identity !== undefined || config.issuer !== undefined)
      throw new InputError(`${where}: give key or identity and issuer, not both`);
    return { signer: { key: loadPublicKeyFile(config.key), name: config.key }, ...(trustedRoot && { trustedRoot }), requireTlog };
  }
  if (config.identity === undefined || config.issuer === undefined) throw new InputError(`${where}: give key, or both identity and issuer`);
  if (!trustedRoot) throw new InputError(`${where}: a certificate identity needs a Sigstore trusted root (trustedRoot)`);
  return { signer: { identities: [{ subject: { exact: config.identity }, issuer: { exact: config.issuer } }] }, trustedRoot, requireTlog };
}
