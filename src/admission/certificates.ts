// Certificates the webhook serves: a CA of its own and a serving certificate it signs, ECDSA P-256, made
// in-process (pkijs over WebCrypto). The API server trusts the CA through the caBundle of the webhook
// configuration, so no cluster CA and no certificate signing request is involved.
import { createPrivateKey, randomBytes, X509Certificate } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";

export interface Issued {
  certPem: string;
  keyPem: string;
}

export interface ServingNames {
  dns: string[];
  ips: string[];
}

const EC = { name: "ECDSA", namedCurve: "P-256" } as const;
/** Certificates start a little in the past: clocks of the API server and the webhook differ. */
const BACKDATE_MS = 5 * 60_000;

const OID = {
  commonName: "2.5.4.3",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  serverAuth: "1.3.6.1.5.5.7.3.1",
};

/**
 * A serial number's bytes, 16 random ones, as DER writes a positive INTEGER: the first byte is 0x40–0x7f,
 * so the value is positive (RFC 5280) and has no leading zero byte, which DER forbids. Clearing only the top
 * bit made one certificate in 256 start with 0x00 before a byte under 0x80, and OpenSSL (Node's X509
 * parser, the API server's Go parser) refuses that encoding.
 */
export function certificateSerial(random: Buffer = randomBytes(16)): Buffer {
  const serial = Buffer.from(random);
  serial[0] = 0x40 | (serial[0]! & 0x3f);
  return serial;
}

export function issueCa(commonName: string, validityMs: number, now = new Date()): Promise<Issued> {
  return issue({ subject: commonName, validityMs, now, ca: true });
}

export function issueServing(ca: Issued, names: ServingNames, validityMs: number, now = new Date()): Promise<Issued> {
  return issue({ subject: names.dns[0] ?? names.ips[0] ?? "vigil-admission", validityMs, now, ca: false, names, issuer: ca });
}

interface IssueInput {
  subject: string;
  validityMs: number;
  now: Date;
  ca: boolean;
  names?: ServingNames;
  issuer?: Issued;
}

async function issue(input: IssueInput): Promise<Issued> {
  const subtle = globalThis.crypto.subtle;
  const keys = (await subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ valueHex: certificateSerial() });
  const issuerName = input.issuer ? new X509Certificate(input.issuer.certPem).subject.replace(/^CN=/, "") : input.subject;
  cert.issuer.typesAndValues.push(commonName(issuerName));
  cert.subject.typesAndValues.push(commonName(input.subject));
  cert.notBefore.value = new Date(input.now.getTime() - BACKDATE_MS);
  cert.notAfter.value = new Date(input.now.getTime() + input.validityMs);
  await cert.subjectPublicKeyInfo.importKey(keys.publicKey);
  cert.extensions = input.ca ? caExtensions() : servingExtensions(input.names!);
  const signingKey = input.issuer ? importPrivateKey(input.issuer.keyPem) : keys.privateKey;
  await cert.sign(signingKey, "SHA-256");
  const der = Buffer.from(cert.toSchema(true).toBER(false));
  const pkcs8 = Buffer.from(await subtle.exportKey("pkcs8", keys.privateKey));
  return { certPem: pem("CERTIFICATE", der), keyPem: pem("PRIVATE KEY", pkcs8) };
}

function caExtensions(): pkijs.Extension[] {
  return [
    new pkijs.Extension({
      extnID: OID.basicConstraints,
      critical: true,
      extnValue: new pkijs.BasicConstraints({ cA: true, pathLenConstraint: 0 }).toSchema().toBER(false),
    }),
    // keyCertSign and cRLSign (bits 5 and 6).
    new pkijs.Extension({
      extnID: OID.keyUsage,
      critical: true,
      extnValue: new asn1js.BitString({ valueHex: new Uint8Array([0x06]), unusedBits: 1 }).toBER(false),
    }),
  ];
}

function servingExtensions(names: ServingNames): pkijs.Extension[] {
  const altNames = new pkijs.GeneralNames({
    names: [
      ...names.dns.map((value) => new pkijs.GeneralName({ type: 2, value })),
      ...names.ips.map((ip) => new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: ipBytes(ip) }) })),
    ],
  });
  return [
    new pkijs.Extension({
      extnID: OID.basicConstraints,
      critical: true,
      extnValue: new pkijs.BasicConstraints({ cA: false }).toSchema().toBER(false),
    }),
    // digitalSignature (bit 0): what an ECDSA TLS server key does.
    new pkijs.Extension({
      extnID: OID.keyUsage,
      critical: true,
      extnValue: new asn1js.BitString({ valueHex: new Uint8Array([0x80]), unusedBits: 7 }).toBER(false),
    }),
    new pkijs.Extension({
      extnID: OID.extKeyUsage,
      extnValue: new pkijs.ExtKeyUsage({ keyPurposes: [OID.serverAuth] }).toSchema().toBER(false),
    }),
    new pkijs.Extension({ extnID: OID.subjectAltName, extnValue: altNames.toSchema().toBER(false) }),
  ];
}

function commonName(value: string): pkijs.AttributeTypeAndValue {
  return new pkijs.AttributeTypeAndValue({ type: OID.commonName, value: new asn1js.Utf8String({ value }) });
}

function ipBytes(ip: string): Uint8Array {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return new Uint8Array(ip.split(".").map(Number));
  const [head = "", tail = ""] = ip.split("::");
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = groups(tail);
  const all = ip.includes("::") ? [...h, ...new Array(8 - h.length - t.length).fill(0), ...t] : h;
  return new Uint8Array(all.flatMap((g) => [g >> 8, g & 0xff]));
}

function importPrivateKey(keyPem: string): CryptoKey {
  return createPrivateKey(keyPem).toCryptoKey(EC, false, ["sign"]) as CryptoKey;
}

function pem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END ${label}-----\n`;
}

/** The PEM certificates in a bundle, in order. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}
