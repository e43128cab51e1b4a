// A test certificate authority made with the openssl CLI (root → intermediate → Fulcio-shaped leaves),
// and a signing program that lets git sign commits with gpg.format=x509 through `openssl cms`.
import { X509Certificate } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./tools.ts";

export const TEST_ISSUER = "https://issuer.example";
export const TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
const DAY = 24 * 3600 * 1000;
// A test CA made with the openssl CLI: root → intermediate → leaves

function opensslTime(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:T]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

export interface LeafOptions {
  email?: string;
  uri?: string;
  /** The Fulcio OIDC issuer extension (…57264.1.8); null leaves it out. */
  issuer?: string | null;
  /** The legacy Fulcio issuer extension (…57264.1.1), the bare string. */
  legacyIssuer?: string;
  codeSigning?: boolean;
  key?: "p256" | "p384" | "rsa";
  start?: Date;
  end?: Date;
}

export class TestCa {
  readonly dir: string;
  readonly root: Buffer;
  readonly intermediate: Buffer;
  private serial = 0;

  constructor(parent: string, name: string) {
    this.dir = join(parent, name);
    mkdirSync(this.dir);
    writeFileSync(join(this.dir, "ca.cnf"), CA_CONFIG);
    writeFileSync(join(this.dir, "index.txt"), "");
    writeFileSync(join(this.dir, "serial"), "01\n");
    writeFileSync(
      join(this.dir, "root.ext"),
      "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n",
    );
    writeFileSync(
      join(this.dir, "inter.ext"),
      "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    );
    this.key("root");
    this.request("root", `/O=${name}/CN=${name} root`);
    this.ca(
      ["-selfsign", "-keyfile", "root.key", "-in", "root.csr", "-out", "root.pem", "-extfile", "root.ext"],
      new Date("2020-01-01"),
      new Date("2040-01-01"),
    );
    this.key("inter");
    this.request("inter", `/O=${name}/CN=${name} intermediate`);
    this.ca(
      ["-cert", "root.pem", "-keyfile", "root.key", "-in", "inter.csr", "-out", "inter.pem", "-extfile", "inter.ext"],
      new Date("2020-01-01"),
      new Date("2039-01-01"),
    );
    this.root = this.der("root.pem");
    this.intermediate = this.der("inter.pem");
  }

  /** Issues a leaf from the intermediate; returns the directory holding leaf.pem, leaf.key and chain.pem. */
  leaf(options: LeafOptions = {}): string {
    const name = `leaf${++this.serial}`;
    const o = {
      email: "alice@example.com",
      issuer: TEST_ISSUER,
      codeSigning: true,
      start: new Date(Date.now() - DAY),
      end: new Date(Date.now() + DAY),
      ...options,
    };
    this.key(name, o.key);
    this.request(name, `/CN=${name}`);
    writeFileSync(join(this.dir, `${name}.ext`), leafExtensions(o));
    this.ca(
      ["-cert", "inter.pem", "-keyfile", "inter.key", "-in", `${name}.csr`, "-out", `${name}.pem`, "-extfile", `${name}.ext`],
      o.start,
      o.end,
    );
    const signer = join(this.dir, name);
    mkdirSync(signer);
    writeFileSync(join(signer, "leaf.pem"), readFileSync(join(this.dir, `${name}.pem`)));
    writeFileSync(join(signer, "leaf.key"), readFileSync(join(this.dir, `${name}.key`)));
    writeFileSync(join(signer, "chain.pem"), readFileSync(join(this.dir, "inter.pem")));
    return signer;
  }

  /** A Sigstore trusted_root.json naming this CA (intermediate first, root last). */
  trustedRootJson(
    validFor: { start: string; end?: string } = { start: "2020-01-01T00:00:00Z" },
    tlogs: unknown[] = [],
  ): Record<string, unknown> {
    const certificates = [this.intermediate, this.root].map((der) => ({ rawBytes: der.toString("base64") }));
    return {
      mediaType: TRUSTED_ROOT_MEDIA_TYPE,
      tlogs,
      certificateAuthorities: [
        { subject: { organization: "test", commonName: "test" }, uri: "https://fulcio.test", certChain: { certificates }, validFor },
      ],
      ctlogs: [],
      timestampAuthorities: [],
    };
  }

  private key(name: string, type: LeafOptions["key"] = "p256"): void {
    const curve = type === "p384" ? "secp384r1" : "prime256v1";
    const args =
      type === "rsa" ? ["genrsa", "-out", `${name}.key`, "2048"] : ["ecparam", "-name", curve, "-genkey", "-noout", "-out", `${name}.key`];
    run("openssl", args, { cwd: this.dir });
  }

  private request(name: string, subject: string): void {
    run("openssl", ["req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`], { cwd: this.dir });
  }

  // `openssl ca` rather than `openssl x509 -req`: OpenSSL 3.0 sets arbitrary (also past) validity only here.
  private ca(args: string[], start: Date, end: Date): void {
    const dates = ["-startdate", opensslTime(start), "-enddate", opensslTime(end)];
    run("openssl", ["ca", "-batch", "-notext", "-config", "ca.cnf", ...dates, ...args], { cwd: this.dir });
  }

  private der(pem: string): Buffer {
    return Buffer.from(new X509Certificate(readFileSync(join(this.dir, pem))).raw);
  }
}

const CA_CONFIG = `[ca]
default_ca = test
[test]
database = ./index.txt
new_certs_dir = .
serial = ./serial
default_md = sha256
policy = any
unique_subject = no
email_in_dn = no
copy_extensions = none
[any]
commonName = optional
organizationName = optional
`;

function leafExtensions(o: LeafOptions): string {
  const san = [o.email && `email:${o.email}`, o.uri && `URI:${o.uri}`].filter(Boolean).join(",");
  const hex = (s: string) => [...Buffer.from(s)].map((b) => b.toString(16).padStart(2, "0")).join(":");
  return [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature",
    o.codeSigning ? "extendedKeyUsage=codeSigning" : "extendedKeyUsage=emailProtection",
    `subjectAltName=critical,${san}`,
    o.issuer ? `1.3.6.1.4.1.57264.1.8=ASN1:UTF8String:${o.issuer}` : "",
    o.legacyIssuer ? `1.3.6.1.4.1.57264.1.1=DER:${hex(o.legacyIssuer)}` : "",
    "subjectKeyIdentifier=hash",
    "authorityKeyIdentifier=keyid",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------------
// Commits signed by git through its gpg.format=x509 interface

// git runs `<program> --status-fd=2 -bsau <key>`, writes the payload to stdin, and wants the armored
// signature on stdout and a SIG_CREATED status line on stderr. openssl cms signs detached by default.
export const CMS_SIGN_SCRIPT = `#!/bin/sh
set -e
payload=$(mktemp)
cat > "$payload"
openssl cms -sign -binary -md "\${VIGIL_X509_MD:-sha256}" $VIGIL_X509_CMS_OPTS -signer "$VIGIL_X509_SIGNER/leaf.pem" -inkey "$VIGIL_X509_SIGNER/leaf.key" \\
  -certfile "$VIGIL_X509_SIGNER/chain.pem" -in "$payload" -outform PEM |
  sed -e 's/^-----BEGIN CMS-----$/-----BEGIN SIGNED MESSAGE-----/' -e 's/^-----END CMS-----$/-----END SIGNED MESSAGE-----/'
rm -f "$payload"
echo "[GNUPG:] SIG_CREATED D 19 8 00 0 0" >&2
`;

/** Writes the signing program git runs as gpg.x509.program; it signs as the leaf in $VIGIL_X509_SIGNER. */
export function cmsSignProgram(path: string): string {
  writeFileSync(path, CMS_SIGN_SCRIPT);
  chmodSync(path, 0o755);
  return path;
}
