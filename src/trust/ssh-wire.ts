// SSH wire encoding (RFC 4251 §5) and public keys (RFC 4253, RFC 5656, RFC 8709).
// Written by hand: no well-kept JavaScript library reads SSHSIG or OpenSSH certificates,
// and the encoding is a few length-prefixed fields.
import { createPublicKey, type KeyObject, createHash } from "node:crypto";

export class SshFormatError extends Error {}

/** Reads length-prefixed fields strictly: any overrun is an error, never a short read. */
export class SshReader {
  private offset = 0;
  private readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }

  get done(): boolean {
    return this.offset === this.buf.length;
  }
  get remaining(): number {
    return this.buf.length - this.offset;
  }
  /** Bytes consumed so far: a certificate's signature covers everything before it. */
  consumed(): Buffer {
    return this.buf.subarray(0, this.offset);
  }

  bytes(n: number): Buffer {
    if (n < 0 || this.offset + n > this.buf.length) throw new SshFormatError("truncated data");
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
  uint32(): number {
    return this.bytes(4).readUInt32BE(0);
  }
  uint64(): bigint {
    return this.bytes(8).readBigUInt64BE(0);
  }
  string(): Buffer {
    return this.bytes(this.uint32());
  }
  text(): string {
    return this.string().toString("utf8");
  }
  end(what: string): void {
    if (!this.done) throw new SshFormatError(`${this.remaining} unexpected trailing bytes in ${what}`);
  }
}

export function sshString(data: Buffer | string): Buffer {
  const body = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length, 0);
  return Buffer.concat([len, body]);
}

const curves: Record<string, { name: string; crv: string; size: number }> = {
  "ecdsa-sha2-nistp256": { name: "nistp256", crv: "P-256", size: 32 },
  "ecdsa-sha2-nistp384": { name: "nistp384", crv: "P-384", size: 48 },
  "ecdsa-sha2-nistp521": { name: "nistp521", crv: "P-521", size: 66 },
};

export interface SshPublicKey {
  /** Key type as written in authorized_keys, e.g. ssh-ed25519. */
  type: string;
  /** The wire blob; two keys are the same key exactly when their blobs are equal. */
  blob: Buffer;
  /** SHA256 fingerprint as ssh-keygen prints it. */
  fingerprint: string;
  key: KeyObject;
  /** For security-key (FIDO) types: the application string that signatures carry. */
  application?: string;
}

function b64url(b: Buffer): string {
  return b.toString("base64url");
}

export function fingerprint(blob: Buffer): string {
  return "SHA256:" + createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
}

/** Parses the fields of a plain public key of `type` from a reader positioned after the type. */
export function readPublicKeyFields(type: string, r: SshReader): { key: KeyObject; application?: string } {
  switch (type) {
    case "ssh-ed25519": {
      const pk = r.string();
      if (pk.length !== 32) throw new SshFormatError("ed25519 key is not 32 bytes");
      return { key: createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64url(pk) }, format: "jwk" }) };
    }
    case "sk-ssh-ed25519@openssh.com": {
      const pk = r.string();
      if (pk.length !== 32) throw new SshFormatError("ed25519 key is not 32 bytes");
      const application = r.text();
      return { key: createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64url(pk) }, format: "jwk" }), application };
    }
    case "ssh-rsa": {
      const e = r.string();
      const n = r.string();
      return {
        key: createPublicKey({ key: { kty: "RSA", e: b64url(stripZero(e)), n: b64url(stripZero(n)) }, format: "jwk" }),
      };
    }
    case "ecdsa-sha2-nistp256":
    case "ecdsa-sha2-nistp384":
    case "ecdsa-sha2-nistp521":
    case "sk-ecdsa-sha2-nistp256@openssh.com": {
      const curve = curves[type.startsWith("sk-") ? "ecdsa-sha2-nistp256" : type]!;
      const name = r.text();
      if (name !== curve.name) throw new SshFormatError(`curve ${name} does not match key type ${type}`);
      const point = r.string();
      if (point.length !== 1 + 2 * curve.size || point[0] !== 4) {
        throw new SshFormatError("ECDSA key is not an uncompressed point of the right size");
      }
      const x = point.subarray(1, 1 + curve.size);
      const y = point.subarray(1 + curve.size);
      const key = createPublicKey({ key: { kty: "EC", crv: curve.crv, x: b64url(x), y: b64url(y) }, format: "jwk" });
      return type.startsWith("sk-") ? { key, application: r.text() } : { key };
    }
    default:
      throw new SshFormatError(`unsupported key type ${type}`);
  }
}

function stripZero(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** Parses a public key wire blob (not a certificate). */
export function parsePublicKeyBlob(blob: Buffer): SshPublicKey {
  const r = new SshReader(blob);
  const type = r.text();
  const { key, application } = readPublicKeyFields(type, r);
  r.end("public key");
  return { type, blob, fingerprint: fingerprint(blob), key, ...(application ? { application } : {}) };
}

export const certificateTypes = new Set([
  "ssh-ed25519-cert-v01@openssh.com",
  "ssh-rsa-cert-v01@openssh.com",
  "ecdsa-sha2-nistp256-cert-v01@openssh.com",
  "ecdsa-sha2-nistp384-cert-v01@openssh.com",
  "ecdsa-sha2-nistp521-cert-v01@openssh.com",
  "sk-ssh-ed25519-cert-v01@openssh.com",
  "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
]);

/** The algorithm name a signature blob carries, and the hash it implies. */
export function signatureHash(algorithm: string, keyType: string): string | null {
  switch (algorithm) {
    case "ssh-ed25519":
    case "sk-ssh-ed25519@openssh.com":
      return null;
    case "rsa-sha2-256":
      return "sha256";
    case "rsa-sha2-512":
      return "sha512";
    case "ssh-rsa":
      // SHA-1 RSA signatures are refused, as OpenSSH refuses them for SSHSIG.
      throw new SshFormatError("RSA signatures with SHA-1 (ssh-rsa) are not accepted; sign with rsa-sha2-512");
    case "ecdsa-sha2-nistp256":
    case "sk-ecdsa-sha2-nistp256@openssh.com":
      return "sha256";
    case "ecdsa-sha2-nistp384":
      return "sha384";
    case "ecdsa-sha2-nistp521":
      return "sha512";
    default:
      throw new SshFormatError(`unsupported signature algorithm ${algorithm} for ${keyType} key`);
  }
}

/** The base type a signature algorithm belongs to: the key type that must have made it. */
export function algorithmKeyType(algorithm: string): string {
  return algorithm.startsWith("rsa-sha2-") ? "ssh-rsa" : algorithm;
}
