// x509 (CMS) commit signatures, with real components throughout: CAs made by the openssl CLI, commits
// signed by git itself through gpg.format=x509 (openssl cms behind git's gpg interface, and gpgsm),
// gitsign's embedded Rekor entry format against a test log, and real Fulcio certificates and Rekor
// entries from the shared Sigstore test vectors.
import { strict as assert } from "node:assert";
import { X509Certificate, createHash, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { loadTrustedRoot, type TrustedRoot } from "../src/trust/trusted-root.ts";
import { verifyCertificateIdentity } from "../src/sigstore/certificate.ts";
import { verifyX509Signature } from "../src/git/signatures/x509.ts";
import type { SignatureRefusal } from "../src/git/signatures/result.ts";
import type { SigstoreIdentity } from "../src/trust/keyring.ts";
import { hashedRekordBody, verifyTlogEntry, type TlogEntry } from "../src/sigstore/tlog.ts";
import { requireSharedData, requireTools, run } from "./helpers/tools.ts";
import { CMS_SIGN_SCRIPT, TEST_ISSUER, TRUSTED_ROOT_MEDIA_TYPE, TestCa } from "./helpers/x509-fixture.ts";

const MEDIA_TYPE = TRUSTED_ROOT_MEDIA_TYPE;
const ISSUER = TEST_ISSUER;
const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;

const alice: SigstoreIdentity = { signer: "alice", identity: "alice@example.com", issuer: ISSUER, source: "policy.yaml:signers[0]" };
const ci: SigstoreIdentity = {
  signer: "ci",
  identity: "https://github.com/example/repo/.github/workflows/release.yml@refs/heads/main",
  issuer: "https://token.actions.githubusercontent.com",
  source: "policy.yaml:signers[1]",
};

let scratch: string | undefined;
function scratchDir(): string {
  scratch ??= mkdtempSync(join(tmpdir(), "vigil-x509-"));
  return scratch;
}
after(() => scratch && rmSync(scratch, { recursive: true, force: true }));

/** The CA's trusted_root.json, parsed by the code under test. */
function trustedRootOf(ca: TestCa, validFor?: { start: string; end?: string }, tlogs: unknown[] = []): TrustedRoot {
  return loadTrustedRoot(JSON.stringify(ca.trustedRootJson(validFor, tlogs)), `${ca.dir}/trusted_root.json`);
}

interface SignedCommit {
  armored: string;
  payload: Buffer;
}

class X509Repo {
  readonly dir: string;

  constructor(name: string) {
    this.dir = join(scratchDir(), name);
    const script = join(scratchDir(), `${name}-cms-sign.sh`);
    writeFileSync(script, CMS_SIGN_SCRIPT);
    chmodSync(script, 0o755);
    mkdirSync(this.dir);
    this.git(["init", "-q"]);
    for (const [k, v] of [
      ["user.name", "Alice"],
      ["user.email", alice.identity],
      ["gpg.format", "x509"],
      ["gpg.x509.program", script],
      ["user.signingkey", "test"],
    ]) {
      this.git(["config", k!, v!]);
    }
  }

  /** Makes a commit signed as `signer` (a TestCa.leaf directory), or through `config` (e.g. gpgsm). */
  commit(message: string, signer?: string, config: string[] = [], env: NodeJS.ProcessEnv = {}): SignedCommit {
    this.git([...config, "commit", "-q", "--allow-empty", "-S", "-m", message], { VIGIL_X509_SIGNER: signer, ...env });
    return splitCommit(this.git(["cat-file", "commit", "HEAD"]));
  }

  // Only this repository's configuration counts, not the host's or the user's.
  private git(args: string[], env: NodeJS.ProcessEnv = {}): string {
    return run("git", args, { cwd: this.dir, env: { GIT_CONFIG_NOSYSTEM: "1", HOME: this.dir, ...env } });
  }
}

/** Separates the gpgsig header (continuation lines start with one space) from the payload git signed. */
function splitCommit(raw: string): SignedCommit {
  const lines = raw.split("\n");
  const start = lines.findIndex((l) => l.startsWith("gpgsig "));
  assert.ok(start >= 0, "commit has no gpgsig header");
  let end = start + 1;
  while (end < lines.length && lines[end]!.startsWith(" ")) end++;
  const armored = [lines[start]!.slice("gpgsig ".length), ...lines.slice(start + 1, end).map((l) => l.slice(1))].join("\n");
  return { armored, payload: Buffer.from([...lines.slice(0, start), ...lines.slice(end)].join("\n")) };
}

function armor(der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g)!;
  return ["-----BEGIN SIGNED MESSAGE-----", ...lines, "-----END SIGNED MESSAGE-----"].join("\n");
}

function dearmor(armored: string): Buffer {
  return Buffer.from(armored.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
}

/** A refusal whose reason matches `pattern` and whose code (the failing check's) is `code`. */
function assertRefused(result: ReturnType<typeof verifyX509Signature>, pattern: RegExp, code: SignatureRefusal): void {
  assert.equal(result.ok, false, `expected a refusal, got ${JSON.stringify(result)}`);
  if (!result.ok) {
    assert.equal(result.kind, "x509");
    assert.match(result.reason, pattern);
    assert.equal(result.code, code, result.reason);
  }
}

// ---------------------------------------------------------------------------------------------------

interface Fixture {
  ca: TestCa;
  other: TestCa;
  repo: X509Repo;
  root: TrustedRoot;
  good: SignedCommit;
}

let fixture: Fixture | undefined;
function setup(t: TestContext): Fixture | undefined {
  if (!requireTools(t, ["git", "openssl"])) return undefined;
  if (fixture) return fixture;
  const ca = new TestCa(scratchDir(), "ca");
  const repo = new X509Repo("repo");
  fixture = {
    ca,
    other: new TestCa(scratchDir(), "other"),
    repo,
    root: trustedRootOf(ca),
    good: repo.commit("signed by alice", ca.leaf()),
  };
  return fixture;
}

describe("x509 commit signatures made by git with openssl cms", () => {
  it("accepts a commit signed by a trusted identity, judged at the time of verification, not at its signingTime", (t) => {
    const f = setup(t);
    if (!f) return;
    const now = new Date();
    const result = verifyX509Signature(f.good.armored, f.good.payload, [ci, alice], f.root, { at: now, source: "verification" });
    assert.deepEqual(result, {
      ok: true,
      kind: "x509",
      identity: "alice",
      key: `x509 alice@example.com (issuer ${ISSUER})`,
      canonicalKey: `sigstore alice@example.com ${ISSUER}`,
      time: now,
      timeSource: "verification",
    });
  });

  it("accepts a URI identity whose issuer is only in the legacy Fulcio extension", (t) => {
    const f = setup(t);
    if (!f) return;
    const signer = f.ca.leaf({ email: undefined, uri: ci.identity, issuer: null, legacyIssuer: ci.issuer });
    const c = f.repo.commit("signed by ci", signer);
    const result = verifyX509Signature(c.armored, c.payload, [alice, ci], f.root);
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(result.ok && result.identity, "ci");
  });

  it("accepts a P-384 key with SHA-384, and a signer named by subject key identifier", (t) => {
    const f = setup(t);
    if (!f) return;
    const p384 = f.repo.commit("signed with P-384", f.ca.leaf({ key: "p384" }), [], { VIGIL_X509_MD: "sha384" });
    assert.equal(verifyX509Signature(p384.armored, p384.payload, [alice], f.root).ok, true);
    const keyId = f.repo.commit("signer by key id", f.ca.leaf(), [], { VIGIL_X509_CMS_OPTS: "-keyid" });
    assert.equal(verifyX509Signature(keyId.armored, keyId.payload, [alice], f.root).ok, true);
  });

  it("refuses an identity the policy does not list", (t) => {
    const f = setup(t);
    if (!f) return;
    const result = verifyX509Signature(f.good.armored, f.good.payload, [{ ...alice, identity: "bob@example.com" }, ci], f.root);
    assertRefused(result, /alice@example\.com \(issuer https:\/\/issuer\.example\) is not a trusted signer; add it/, "untrusted-key");
  });

  it("refuses the right identity vouched for by another OIDC issuer", (t) => {
    const f = setup(t);
    if (!f) return;
    const result = verifyX509Signature(f.good.armored, f.good.payload, [{ ...alice, issuer: "https://accounts.google.com" }], f.root);
    assertRefused(
      result,
      /issued on the word of OIDC issuer https:\/\/issuer\.example, but the trust policy expects https:\/\/accounts\.google\.com \(signer alice/,
      "untrusted-key",
    );
  });

  it("refuses a certificate from a CA the trusted root does not hold", (t) => {
    const f = setup(t);
    if (!f) return;
    const c = f.repo.commit("signed under another CA", f.other.leaf());
    assertRefused(
      verifyX509Signature(c.armored, c.payload, [alice], f.root),
      /does not chain to any certificate authority in the trusted root .*trusted_root\.json/,
      "untrusted-key",
    );
  });

  it("refuses a leaf that had expired when it signed", (t) => {
    const f = setup(t);
    if (!f) return;
    const c = f.repo.commit(
      "signed with an expired certificate",
      f.ca.leaf({ start: new Date("2021-01-01"), end: new Date("2021-02-01") }),
    );
    assertRefused(
      verifyX509Signature(c.armored, c.payload, [alice], f.root),
      /signing certificate .* is valid from 2021-01-01T00:00:00\.000Z to 2021-02-01T00:00:00\.000Z, not at/,
      "key-not-valid",
    );
  });

  it("refuses a signing time outside the CA's validFor window in the trusted root", (t) => {
    const f = setup(t);
    if (!f) return;
    const root = trustedRootOf(f.ca, { start: "2020-01-01T00:00:00Z", end: "2022-12-31T23:59:59.999Z" });
    assertRefused(
      verifyX509Signature(f.good.armored, f.good.payload, [alice], root),
      /outside the validFor window \(2020-01-01T00:00:00\.000Z to 2022-12-31T23:59:59\.999Z\) of certificateAuthorities\[0\]/,
      "key-not-valid",
    );
  });

  it("refuses a leaf without the codeSigning extended key usage", (t) => {
    const f = setup(t);
    if (!f) return;
    const c = f.repo.commit("signed with an email certificate", f.ca.leaf({ codeSigning: false }));
    assertRefused(
      verifyX509Signature(c.armored, c.payload, [alice], f.root),
      /lacks the codeSigning extended key usage/,
      "signature-not-trusted",
    );
  });

  it("refuses a commit changed after signing", (t) => {
    const f = setup(t);
    if (!f) return;
    const tampered = Buffer.from(f.good.payload.toString().replace("signed by alice", "signed by mallory"));
    assertRefused(
      verifyX509Signature(f.good.armored, tampered, [alice], f.root),
      /message digest differs.*re-sign it/,
      "signature-invalid",
    );
  });

  it("refuses a signature value that does not verify", (t) => {
    const f = setup(t);
    if (!f) return;
    const der = dearmor(f.good.armored);
    der[der.length - 1]! ^= 0x01; // the last byte is the end of the ECDSA signature value
    assertRefused(
      verifyX509Signature(armor(der), f.good.payload, [alice], f.root),
      /does not verify with its certificate's key/,
      "signature-invalid",
    );
  });

  it("refuses truncated signatures", (t) => {
    const f = setup(t);
    if (!f) return;
    const lines = f.good.armored.split("\n");
    const cut = lines.slice(0, Math.floor(lines.length / 2)).join("\n");
    assertRefused(
      verifyX509Signature(cut, f.good.payload, [alice], f.root),
      /truncated x509 signature \(missing the -----END SIGNED MESSAGE----- line\)/,
      "signature-malformed",
    );
    const short = armor(dearmor(f.good.armored).subarray(0, 300));
    assertRefused(
      verifyX509Signature(short, f.good.payload, [alice], f.root),
      /x509 signature is not (valid ASN\.1|a CMS SignedData)/,
      "signature-malformed",
    );
  });

  it("refuses garbage", (t) => {
    const f = setup(t);
    if (!f) return;
    for (const garbage of [
      "",
      "hello",
      "-----BEGIN SIGNED MESSAGE-----\n!!!!\n-----END SIGNED MESSAGE-----",
      armor(Buffer.from("not asn.1 at all")),
    ]) {
      assertRefused(verifyX509Signature(garbage, f.good.payload, [alice], f.root), /x509 signature|ASN\.1/, "signature-malformed");
    }
    const octets = new asn1js.OctetString({ valueHex: new Uint8Array(16) }).toBER();
    assertRefused(
      verifyX509Signature(armor(Buffer.from(octets)), f.good.payload, [alice], f.root),
      /not a CMS SignedData/,
      "signature-malformed",
    );
    const trailing = Buffer.concat([dearmor(f.good.armored), Buffer.from([0, 0])]);
    assertRefused(verifyX509Signature(armor(trailing), f.good.payload, [alice], f.root), /trailing bytes/, "signature-malformed");
  });

  it("refuses when no trusted root was given, saying how to pass one", (t) => {
    const f = setup(t);
    if (!f) return;
    assertRefused(verifyX509Signature(f.good.armored, f.good.payload, [alice], undefined), /pass --trusted-root/, "signature-not-trusted");
  });

  it("accepts an RSA signature made by gpgsm (BER-encoded CMS, full chain embedded)", (t) => {
    const f = setup(t);
    if (!f || !requireTools(t, ["gpgsm", "gpgconf"])) return;
    const home = join(scratchDir(), "gnupg");
    mkdirSync(home, { mode: 0o700 });
    const env = { GNUPGHOME: home };
    t.after(() => run("gpgconf", ["--kill", "all"], { env }));
    const signer = f.ca.leaf({ key: "rsa" });
    const fpr = new X509Certificate(f.ca.root).fingerprint.replace(/:/g, "");
    writeFileSync(join(home, "gpgsm.conf"), "disable-crl-checks\ndisable-dirmngr\n");
    writeFileSync(join(home, "trustlist.txt"), `${fpr} S relax\n`);
    run("gpgsm", ["--batch", "--import", join(f.ca.dir, "root.pem")], { env });
    // gpgsm reads PKCS#12 with the legacy 3DES/SHA-1 protection only, and without a passphrase here. It
    // refuses about one in twenty such files OpenSSL writes ("decryption failed", measured 2 in 40 with
    // the same key; each file has a fresh salt), a fault of that import alone: a refused file is written
    // again, a few times at most, so the test is about the signature gpgsm then makes.
    const p12 = join(signer, "leaf.p12");
    for (let attempt = 1; ; attempt++) {
      run("openssl", [
        "pkcs12",
        "-export",
        "-inkey",
        join(signer, "leaf.key"),
        "-in",
        join(signer, "leaf.pem"),
        "-certfile",
        join(signer, "chain.pem"),
        "-passout",
        "pass:",
        "-keypbe",
        "PBE-SHA1-3DES",
        "-certpbe",
        "PBE-SHA1-3DES",
        "-macalg",
        "sha1",
        "-out",
        p12,
      ]);
      try {
        run("gpgsm", ["--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--import", p12], { env });
        break;
      } catch (e) {
        if (attempt === 5) throw e;
      }
    }
    const keyId = "0x" + new X509Certificate(readFileSync(join(signer, "leaf.pem"))).fingerprint.replace(/:/g, "");
    const c = f.repo.commit("signed by gpgsm", undefined, ["-c", "gpg.x509.program=gpgsm", "-c", `user.signingkey=${keyId}`], env);
    assert.equal(dearmor(c.armored)[1], 0x80, "gpgsm writes indefinite-length BER");
    const result = verifyX509Signature(c.armored, c.payload, [alice], f.root);
    assert.equal(result.ok && result.key, `x509 alice@example.com (issuer ${ISSUER})`, JSON.stringify(result));
  });
});

// ---------------------------------------------------------------------------------------------------
// gitsign's format: the Rekor entry it embeds in the CMS unsigned attributes (1.3.6.1.4.1.57264.3.1)

const DATA = fileURLToPath(new URL("../../shared/data/sigstore/", import.meta.url));
const PRODUCTION_ROOT = join(DATA, "trusted_roots/sigstore-public-good.trusted_root.json");
function productionRoot(t: TestContext, edit?: (root: any) => void): TrustedRoot | undefined {
  if (!requireSharedData(t, PRODUCTION_ROOT)) return undefined;
  const json = JSON.parse(readFileSync(PRODUCTION_ROOT, "utf8"));
  edit?.(json);
  return loadTrustedRoot(JSON.stringify(json), PRODUCTION_ROOT);
}

// ---------------------------------------------------------------------------------------------------
// The same format with a test Rekor: what the logged time decides

interface TestLog {
  key: KeyObject;
  logId: Buffer;
  json: unknown;
}

function testLog(): TestLog {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = publicKey.export({ format: "der", type: "spki" });
  const logId = createHash("sha256").update(spki).digest();
  const json = {
    baseUrl: "https://rekor.test",
    hashAlgorithm: "SHA2_256",
    publicKey: { rawBytes: spki.toString("base64"), keyDetails: "PKIX_ECDSA_P256_SHA_256", validFor: { start: "2020-01-01T00:00:00Z" } },
    logId: { keyId: logId.toString("base64") },
  };
  return { key: privateKey, logId, json };
}

// protobuf encoding, just what a TransparencyLogEntry needs.
function varint(n: bigint): Buffer {
  const out: number[] = [];
  do {
    out.push(Number(n & 0x7fn) | (n > 0x7fn ? 0x80 : 0));
    n >>= 7n;
  } while (n > 0n);
  return Buffer.from(out);
}
function field(n: number, value: bigint | Buffer | string): Buffer {
  if (typeof value === "bigint") return Buffer.concat([varint(BigInt(n << 3)), varint(value)]);
  const bytes = Buffer.from(value);
  return Buffer.concat([varint(BigInt((n << 3) | 2)), varint(BigInt(bytes.length)), bytes]);
}

// RFC 6962 Merkle tree hash and audit path.
const leafHash = (d: Buffer) =>
  createHash("sha256")
    .update(Buffer.from([0]))
    .update(d)
    .digest();
const nodeHash = (l: Buffer, r: Buffer) =>
  createHash("sha256")
    .update(Buffer.from([1]))
    .update(l)
    .update(r)
    .digest();
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
function treeHash(leaves: Buffer[]): Buffer {
  if (leaves.length === 1) return leafHash(leaves[0]!);
  const k = split(leaves.length);
  return nodeHash(treeHash(leaves.slice(0, k)), treeHash(leaves.slice(k)));
}
function auditPath(m: number, leaves: Buffer[]): Buffer[] {
  if (leaves.length === 1) return [];
  const k = split(leaves.length);
  return m < k
    ? [...auditPath(m, leaves.slice(0, k)), treeHash(leaves.slice(k))]
    : [...auditPath(m - k, leaves.slice(k)), treeHash(leaves.slice(0, k))];
}

/** Logs an openssl-made CMS signature in the test Rekor at `integratedTime` and embeds the entry as gitsign does. */
function embedRekorEntry(commit: SignedCommit, log: TestLog, integratedTime: Date): SignedCommit {
  const info = new pkijs.ContentInfo({ schema: asn1js.fromBER(dearmor(commit.armored)).result });
  const signed = new pkijs.SignedData({ schema: info.content });
  const signer = signed.signerInfos[0]!;
  const certs = signed.certificates!.map((c) => new X509Certificate(Buffer.from((c as pkijs.Certificate).toSchema().toBER())));
  const leafPem = certs.find((c) => !c.ca)!.toString();
  const digest = createHash("sha256").update(Buffer.from(signer.signedAttrs!.encodedValue)).digest();
  const body = hashedRekordBody(digest, Buffer.from(signer.signature.valueBlock.valueHexView), leafPem);
  const leaves = [Buffer.from("a"), Buffer.from("b"), Buffer.from("c"), body, Buffer.from("d"), Buffer.from("e")];
  const [index, size, time] = [3n, BigInt(leaves.length), BigInt(Math.floor(integratedTime.getTime() / 1000))];
  const rootHash = treeHash(leaves);
  const note = `rekor.test - 1\n${size}\n${rootHash.toString("base64")}\n`;
  const noteSig = Buffer.concat([log.logId.subarray(0, 4), sign("sha256", Buffer.from(note), log.key)]);
  const setPayload = `{"body":"${body.toString("base64")}","integratedTime":${time},"logID":"${log.logId.toString("hex")}","logIndex":${index}}`;
  const entry = Buffer.concat([
    field(1, index),
    field(2, field(1, log.logId)),
    field(3, Buffer.concat([field(1, "hashedrekord"), field(2, "0.0.1")])),
    field(4, time),
    field(5, field(1, sign("sha256", Buffer.from(setPayload), log.key))),
    field(
      6,
      Buffer.concat([
        field(1, index),
        field(2, rootHash),
        field(3, size),
        ...auditPath(3, leaves).map((h) => field(4, h)),
        field(5, field(1, `${note}\n\u2014 rekor.test ${noteSig.toString("base64")}\n`)),
      ]),
    ),
  ]);
  const attribute = new pkijs.Attribute({ type: "1.3.6.1.4.1.57264.3.1", values: [new asn1js.OctetString({ valueHex: entry })] });
  signer.unsignedAttrs = new pkijs.SignedAndUnsignedAttributes({ type: 1, attributes: [attribute] });
  const out = new pkijs.ContentInfo({ contentType: info.contentType, content: signed.toSchema(true) });
  return { armored: armor(Buffer.from(out.toSchema().toBER())), payload: commit.payload };
}

describe("x509 signatures with a Rekor entry from a test log", () => {
  it("takes the signing time from the log, not from the signer's signingTime", (t) => {
    const f = setup(t);
    if (!f) return;
    const log = testLog();
    const root = trustedRootOf(f.ca, undefined, [log.json]);
    // Signed today with a certificate that expired in 2021, but logged while it was valid: accepted.
    const old = f.repo.commit("logged in time", f.ca.leaf({ start: new Date("2021-01-01"), end: new Date("2021-02-01") }));
    const logged = embedRekorEntry(old, log, new Date("2021-01-15T12:00:00Z"));
    assert.deepEqual(verifyX509Signature(logged.armored, logged.payload, [alice], root), {
      ok: true,
      kind: "x509",
      identity: "alice",
      key: `x509 alice@example.com (issuer ${ISSUER})`,
      canonicalKey: `sigstore alice@example.com ${ISSUER}`,
      time: new Date("2021-01-15T12:00:00Z"),
      timeSource: "transparency-log",
    });
    // Signed while the certificate was valid, but logged only after it expired: refused.
    const late = embedRekorEntry(f.good, log, new Date(Date.now() + 2 * DAY));
    const later = { at: new Date(Date.now() + 3 * DAY), source: "verification" } as const;
    assertRefused(
      verifyX509Signature(late.armored, late.payload, [alice], root, later),
      /transparency-log time\): the signing certificate .* not at/,
      "key-not-valid",
    );
  });

  it("refuses an entry logged for another signature, or by a log the root does not trust", (t) => {
    const f = setup(t);
    if (!f) return;
    const log = testLog();
    const other = f.repo.commit("another commit", f.ca.leaf());
    const theirs = embedRekorEntry(other, log, new Date());
    // The entry of `other` moved onto the good signature: the rebuilt body no longer matches what was logged.
    const moved = new pkijs.ContentInfo({ schema: asn1js.fromBER(dearmor(theirs.armored)).result });
    const attr = new pkijs.SignedData({ schema: moved.content }).signerInfos[0]!.unsignedAttrs!;
    const mine = new pkijs.ContentInfo({ schema: asn1js.fromBER(dearmor(f.good.armored)).result });
    const signed = new pkijs.SignedData({ schema: mine.content });
    signed.signerInfos[0]!.unsignedAttrs = attr;
    const swapped = armor(
      Buffer.from(new pkijs.ContentInfo({ contentType: mine.contentType, content: signed.toSchema(true) }).toSchema().toBER()),
    );
    assertRefused(
      verifyX509Signature(swapped, f.good.payload, [alice], trustedRootOf(f.ca, undefined, [log.json])),
      /signed entry timestamp does not verify/,
      "signature-not-trusted",
    );
    assertRefused(
      verifyX509Signature(theirs.armored, theirs.payload, [alice], trustedRootOf(f.ca, undefined, [testLog().json])),
      /is not in the trusted root/,
      "signature-not-trusted",
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// The trusted time (issue 14 §4): a verified log time, else the caller's (first sighting or now), never
// the CMS signingTime, which the signer writes

describe("x509 certificates are judged at the trusted time", () => {
  // A certificate valid from yesterday to tomorrow, signed now: its signingTime lies inside its validity.
  function signedToday(f: Fixture): SignedCommit {
    return f.repo.commit("signed today", f.ca.leaf());
  }

  it("refuses a certificate expired at the trusted time though its signingTime is inside its validity", (t) => {
    const f = setup(t);
    if (!f) return;
    const c = signedToday(f);
    const later = { at: new Date(Date.now() + 3 * DAY), source: "verification" } as const;
    assertRefused(
      verifyX509Signature(c.armored, c.payload, [alice], f.root, later),
      /^at the trusted time .* \(time of verification\): the signing certificate .* is valid from .* to .*, not at /,
      "key-not-valid",
    );
  });

  it("accepts it when the audit log first saw the commit while the certificate was valid", (t) => {
    const f = setup(t);
    if (!f) return;
    const c = signedToday(f);
    const seen = { at: new Date(Date.now() + HOUR), source: "first-seen" } as const;
    const result = verifyX509Signature(c.armored, c.payload, [alice], f.root, seen);
    assert.deepEqual(
      result.ok && [result.identity, result.time, result.timeSource],
      ["alice", seen.at, "first-seen"],
      JSON.stringify(result),
    );
  });

  it("accepts it when a verified Rekor entry logged it inside the certificate's validity, whatever the caller's time", (t) => {
    const f = setup(t);
    if (!f) return;
    const log = testLog();
    const root = trustedRootOf(f.ca, undefined, [log.json]);
    const loggedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
    const c = embedRekorEntry(signedToday(f), log, loggedAt);
    const result = verifyX509Signature(c.armored, c.payload, [alice], root, { at: new Date(Date.now() + 3 * DAY), source: "verification" });
    assert.deepEqual(result.ok && [result.time, result.timeSource], [loggedAt, "transparency-log"], JSON.stringify(result));
  });

  it("refuses a signingTime after the trusted time, beyond the clock skew", (t) => {
    const f = setup(t);
    if (!f) return;
    const c = signedToday(f);
    const seenEarlier = { at: new Date(Date.now() - HOUR), source: "first-seen" } as const;
    assertRefused(
      verifyX509Signature(c.armored, c.payload, [alice], f.root, seenEarlier),
      /claims a signing time \(.*\) in the future of the trusted time .* \(first seen in the audit log\)/,
      "signature-not-trusted",
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Path building (issue 14 §10): every candidate issuer is tried, so a certificate with the issuer's name
// and key that leads nowhere (cross-signed by an untrusted root, an expired copy) does not block the path

describe("x509 path building with several candidate issuers", () => {
  interface Candidates {
    leaf: Buffer;
    inter: Buffer;
    crossSigned: Buffer;
    expiredCopy: Buffer;
    /** The trusted root with only the root certificate: intermediates come from the signature. */
    rootOnly: TrustedRoot;
  }

  let candidates: Candidates | undefined;
  function issuers(f: Fixture): Candidates {
    if (candidates) return candidates;
    // The CA's intermediate, from its own request and key, issued again: by the other CA's root, and
    // by its own root with a validity that ended in 2021.
    const reissue = (ca: TestCa, out: string, dates: string[]) => {
      run(
        "openssl",
        [
          "ca",
          "-batch",
          "-notext",
          "-config",
          "ca.cnf",
          ...dates,
          "-cert",
          "root.pem",
          "-keyfile",
          "root.key",
          "-in",
          join(f.ca.dir, "inter.csr"),
          "-extfile",
          join(f.ca.dir, "inter.ext"),
          "-out",
          out,
        ],
        { cwd: ca.dir },
      );
      return Buffer.from(new X509Certificate(readFileSync(join(ca.dir, out))).raw);
    };
    const json = f.ca.trustedRootJson() as { certificateAuthorities: { certChain: { certificates: { rawBytes: string }[] } }[] };
    json.certificateAuthorities[0]!.certChain.certificates = [{ rawBytes: f.ca.root.toString("base64") }];
    candidates = {
      leaf: Buffer.from(new X509Certificate(readFileSync(join(f.ca.leaf(), "leaf.pem"))).raw),
      inter: f.ca.intermediate,
      crossSigned: reissue(f.other, "cross-signed.pem", ["-days", "365"]),
      expiredCopy: reissue(f.ca, "expired-copy.pem", ["-startdate", "20200101000000Z", "-enddate", "20210101000000Z"]),
      rootOnly: loadTrustedRoot(JSON.stringify(json), `${f.ca.dir}/root-only.trusted_root.json`),
    };
    return candidates;
  }

  it("accepts a path through the real intermediate when a misleading candidate is listed first", (t) => {
    const f = setup(t);
    if (!f) return;
    const c = issuers(f);
    for (const carried of [
      [c.crossSigned, c.inter],
      [c.expiredCopy, c.inter],
      [c.expiredCopy, c.crossSigned, c.inter],
      [c.inter, c.crossSigned],
    ]) {
      const verdict = verifyCertificateIdentity(c.leaf, [alice], c.rootOnly, new Date(), carried);
      assert.equal(verdict.ok, true, JSON.stringify(verdict));
    }
  });

  it("refuses when only the misleading candidates are carried, saying why", (t) => {
    const f = setup(t);
    if (!f) return;
    const c = issuers(f);
    const crossOnly = verifyCertificateIdentity(c.leaf, [alice], c.rootOnly, new Date(), [c.crossSigned]);
    assert.match(crossOnly.ok ? "" : crossOnly.reason, /does not chain to any certificate authority in the trusted root/);
    const expiredOnly = verifyCertificateIdentity(c.leaf, [alice], c.rootOnly, new Date(), [c.expiredCopy]);
    assert.match(
      expiredOnly.ok ? "" : expiredOnly.reason,
      /issuing certificate .*intermediate.* is valid from 2020-01-01T00:00:00\.000Z to 2021-01-01T00:00:00\.000Z, not at/,
    );
  });

  it("verifies a commit whose signature carries the cross-signed intermediate beside the real one", (t) => {
    const f = setup(t);
    if (!f) return;
    const c = issuers(f);
    const signer = f.ca.leaf();
    const pem = (der: Buffer) => new X509Certificate(der).toString();
    writeFileSync(join(signer, "chain.pem"), pem(c.crossSigned) + pem(c.inter));
    const commit = f.repo.commit("carries two candidate issuers", signer);
    const result = verifyX509Signature(commit.armored, commit.payload, [alice], c.rootOnly);
    assert.equal(result.ok, true, JSON.stringify(result));
  });

  it("bounds the search: a signature carrying too many certificates, or issuers that all issue each other", (t) => {
    const f = setup(t);
    if (!f) return;
    const c = issuers(f);
    const many = Array.from({ length: 33 }, () => c.inter);
    const verdict = verifyCertificateIdentity(c.leaf, [alice], c.rootOnly, new Date(), many);
    assert.match(verdict.ok ? "" : verdict.reason, /carries 33 certificates, more than the 32/);

    // Twelve self-issued roots of one name and key: each issues every other, 12!/6! paths of depth 8.
    const mesh = new TestCa(scratchDir(), "mesh");
    const roots = Array.from({ length: 12 }, (_, i) => {
      run(
        "openssl",
        [
          "ca",
          "-batch",
          "-notext",
          "-config",
          "ca.cnf",
          "-selfsign",
          "-keyfile",
          "root.key",
          "-in",
          "root.csr",
          "-extfile",
          "root.ext",
          "-days",
          "365",
          "-out",
          `root${i}.pem`,
        ],
        { cwd: mesh.dir },
      );
      return Buffer.from(new X509Certificate(readFileSync(join(mesh.dir, `root${i}.pem`))).raw);
    });
    const meshLeaf = Buffer.from(new X509Certificate(readFileSync(join(mesh.leaf(), "leaf.pem"))).raw);
    const started = performance.now();
    const tangled = verifyCertificateIdentity(meshLeaf, [alice], f.root, new Date(), [mesh.intermediate, ...roots]);
    assert.match(tangled.ok ? "" : tangled.reason, /could not be sorted out within 256 steps/);
    assert.ok(performance.now() - started < 5000, `took ${performance.now() - started} ms`);
  });
});

// ---------------------------------------------------------------------------------------------------
// Real Fulcio certificates and Rekor entries from the shared Sigstore test vectors

interface Case {
  name: string;
  expect: "pass" | "fail";
  bundle: string;
  bundle_facts: { parseable_json: boolean };
  trusted_root: string;
  policy: { type: string; certificate_identity?: string; certificate_oidc_issuer?: string };
}

function cases(t: TestContext): Case[] {
  const file = join(DATA, "cases.json");
  if (!requireSharedData(t, file)) return [];
  return (JSON.parse(readFileSync(file, "utf8")) as Case[]).filter((c) => c.bundle_facts.parseable_json);
}

const bundleOf = (c: Case): any => JSON.parse(readFileSync(join(DATA, c.bundle), "utf8"));

function bundleCertificates(bundle: any): Buffer[] {
  const material = bundle.verificationMaterial ?? {};
  const raw: string[] = material.certificate
    ? [material.certificate.rawBytes]
    : (material.x509CertificateChain?.certificates ?? []).map((c: any) => c.rawBytes);
  return raw.map((b64) => Buffer.from(b64, "base64"));
}

// The time to check a certificate at: Rekor v1's integrated time, or (Rekor v2 has none) the RFC 3161 time.
function bundleTime(bundle: any): Date | undefined {
  const integrated = Number(bundle.verificationMaterial?.tlogEntries?.[0]?.integratedTime ?? 0);
  if (integrated > 0) return new Date(integrated * 1000);
  const token = bundle.verificationMaterial?.timestampVerificationData?.rfc3161Timestamps?.[0]?.signedTimestamp;
  if (!token) return undefined;
  // Some bundles hold the whole TimeStampResp (status and token), others the bare token (a ContentInfo).
  const asn = asn1js.fromBER(Buffer.from(token, "base64")).result as asn1js.Sequence;
  const isResponse = asn.valueBlock.value[0] instanceof asn1js.Sequence;
  const info = isResponse ? new pkijs.TimeStampResp({ schema: asn }).timeStampToken! : new pkijs.ContentInfo({ schema: asn });
  const content = new pkijs.SignedData({ schema: info.content }).encapContentInfo.eContent!;
  return new pkijs.TSTInfo({ schema: asn1js.fromBER(content.getValue()).result }).genTime;
}

function tlogEntry(json: any): TlogEntry {
  const proof = json.inclusionProof;
  return {
    logIndex: BigInt(json.logIndex),
    logId: Buffer.from(json.logId.keyId, "base64"),
    kind: json.kindVersion.kind,
    version: json.kindVersion.version,
    integratedTime: BigInt(json.integratedTime ?? 0),
    signedEntryTimestamp: json.inclusionPromise && Buffer.from(json.inclusionPromise.signedEntryTimestamp, "base64"),
    body: Buffer.from(json.canonicalizedBody, "base64"),
    inclusionProof: proof && {
      logIndex: BigInt(proof.logIndex),
      rootHash: Buffer.from(proof.rootHash, "base64"),
      treeSize: BigInt(proof.treeSize),
      hashes: (proof.hashes ?? []).map((h: string) => Buffer.from(h, "base64")),
      checkpoint: proof.checkpoint?.envelope ?? "",
    },
  };
}

function caseRoot(c: Case): TrustedRoot | undefined {
  try {
    return loadTrustedRoot(readFileSync(join(DATA, c.trusted_root), "utf8"), c.trusted_root);
  } catch {
    return undefined; // a deliberately malformed root; the loader's refusal is the expected outcome
  }
}

describe("real Fulcio certificates and Rekor entries (shared Sigstore test vectors)", () => {
  it("chains and matches the certificates of the certificate-identity cases", (t) => {
    let checked = 0;
    for (const c of cases(t).filter((c) => c.policy.type === "certificate-identity")) {
      const bundle = bundleOf(c);
      const [leaf, ...rest] = bundleCertificates(bundle);
      const root = caseRoot(c);
      const at = bundleTime(bundle);
      if (!leaf || !root || !at) {
        assert.notEqual(c.expect, "pass", `${c.name}: a pass case lacks a certificate, a loadable root or a time`);
        continue;
      }
      const policy: SigstoreIdentity = {
        signer: "policy",
        identity: c.policy.certificate_identity!,
        issuer: c.policy.certificate_oidc_issuer!,
        source: c.name,
      };
      const verdict = verifyCertificateIdentity(leaf, [policy], root, at, rest);
      if (c.expect === "pass") {
        assert.deepEqual(
          verdict.ok && [verdict.signer, verdict.identity, verdict.issuer],
          ["policy", policy.identity, policy.issuer],
          `${c.name}: ${JSON.stringify(verdict)}`,
        );
        checked++;
      }
      const wrongIdentity = verifyCertificateIdentity(leaf, [{ ...policy, identity: `${policy.identity}.evil` }], root, at, rest);
      assert.equal(wrongIdentity.ok, false, `${c.name}: a wrong identity was accepted`);
      const wrongIssuer = verifyCertificateIdentity(leaf, [{ ...policy, issuer: "https://evil.example" }], root, at, rest);
      assert.equal(wrongIssuer.ok, false, `${c.name}: a wrong issuer was accepted`);
    }
    assert.ok(checked >= 10 || checked === 0, `only ${checked} pass cases were checked`);
  });

  it("refuses every real certificate against a root that does not hold its CA", (t) => {
    const f = setup(t);
    if (!f) return;
    for (const c of cases(t).filter((c) => c.policy.type === "certificate-identity")) {
      const bundle = bundleOf(c);
      const [leaf, ...rest] = bundleCertificates(bundle);
      const at = bundleTime(bundle);
      if (!leaf || !at) continue;
      const identity: SigstoreIdentity = {
        signer: "p",
        identity: c.policy.certificate_identity!,
        issuer: c.policy.certificate_oidc_issuer!,
        source: c.name,
      };
      const verdict = verifyCertificateIdentity(leaf, [identity], f.root, at, rest);
      assert.equal(verdict.ok, false, c.name);
      // Some fail cases' certificates had already expired at their time; that is reported first.
      if (c.expect === "pass") assert.match(!verdict.ok ? verdict.reason : "", /does not chain to any certificate authority/);
    }
  });

  it("verifies the Rekor v1 entries of the pass cases, and refuses them altered", (t) => {
    let checked = 0;
    for (const c of cases(t).filter((c) => c.expect === "pass")) {
      const bundle = bundleOf(c);
      const json = bundle.verificationMaterial?.tlogEntries?.[0];
      const root = caseRoot(c);
      if (!json?.inclusionPromise || !root) continue; // Rekor v2 entries carry no signed entry timestamp
      const entry = tlogEntry(json);
      const verdict = verifyTlogEntry(entry, root);
      assert.ok(verdict.ok, `${c.name}: ${JSON.stringify(verdict)}`);
      assert.equal(verdict.integratedTime.getTime(), Number(entry.integratedTime) * 1000);
      const leaf = bundleCertificates(bundle)[0];
      if (bundle.messageSignature && leaf && entry.kind === "hashedrekord" && entry.version === "0.0.1") {
        // The body gitsign's entries are rebuilt from: SHA-256, signature, PEM certificate.
        const { messageDigest, signature } = bundle.messageSignature;
        const body = hashedRekordBody(
          Buffer.from(messageDigest.digest, "base64"),
          Buffer.from(signature, "base64"),
          new X509Certificate(leaf).toString(),
        );
        assert.ok(body.equals(entry.body), `${c.name}: rebuilt hashedrekord body differs`);
      }
      assert.equal(
        verifyTlogEntry({ ...entry, integratedTime: entry.integratedTime + 1n }, root).ok,
        false,
        `${c.name}: moved time accepted`,
      );
      assert.equal(
        verifyTlogEntry({ ...entry, body: Buffer.concat([entry.body, Buffer.from(" ")]) }, root).ok,
        false,
        `${c.name}: altered body accepted`,
      );
      if (entry.inclusionProof?.hashes.length) {
        const hashes = entry.inclusionProof.hashes.map((h, i) => (i === 0 ? Buffer.from(h.map((b) => b ^ 1)) : h));
        const altered = { ...entry, inclusionProof: { ...entry.inclusionProof, hashes } };
        assert.match(
          String(!verifyTlogEntry(altered, root).ok && (verifyTlogEntry(altered, root) as { reason: string }).reason),
          /inclusion proof does not lead to its root hash/,
        );
      }
      checked++;
    }
    assert.ok(checked >= 10 || checked === 0, `only ${checked} entries were checked`);
  });
});

// ---------------------------------------------------------------------------------------------------

describe("loadTrustedRoot", () => {
  const good = () => ({
    mediaType: MEDIA_TYPE,
    certificateAuthorities: [{ certChain: { certificates: [] as unknown[] }, validFor: { start: "2020-01-01T00:00:00Z" } }],
  });

  it("names the source and the field of what is wrong", () => {
    const cases: [unknown, RegExp][] = [
      ["{", /^Error: root\.json: the trusted root is not valid JSON/],
      [{ ...good(), mediaType: "application/json" }, /^Error: root\.json: mediaType "application\/json" is not a Sigstore trusted root/],
      [good(), /^Error: root\.json: certificateAuthorities\[0\]\.certChain\.certificates is empty/],
      [
        {
          ...good(),
          certificateAuthorities: [{ certChain: { certificates: [{ rawBytes: "!!" }] }, validFor: { start: "2020-01-01T00:00:00Z" } }],
        },
        /certificates\[0\]\.rawBytes is not base64/,
      ],
      [
        {
          ...good(),
          certificateAuthorities: [{ certChain: { certificates: [{ rawBytes: "AAAA" }] }, validFor: { start: "2020-01-01T00:00:00Z" } }],
        },
        /certificates\[0\]\.rawBytes is not a DER X\.509 certificate/,
      ],
      [
        {
          mediaType: MEDIA_TYPE,
          tlogs: [
            {
              publicKey: { rawBytes: "AAAA", keyDetails: "PKIX_ED25519", validFor: { start: "2020-01-01T00:00:00Z" } },
              logId: { keyId: "AAAA" },
            },
          ],
        },
        /tlogs\[0\]\.publicKey\.rawBytes is not a SPKI public key/,
      ],
    ];
    for (const [doc, pattern] of cases) {
      assert.throws(() => loadTrustedRoot(typeof doc === "string" ? doc : JSON.stringify(doc), "root.json"), pattern);
    }
  });

  it("rejects a validity window without a start or with a malformed time", (t) => {
    if (!requireSharedData(t, PRODUCTION_ROOT)) return;
    const json = JSON.parse(readFileSync(PRODUCTION_ROOT, "utf8"));
    delete json.tlogs[0].publicKey.validFor.start;
    assert.throws(
      () => loadTrustedRoot(JSON.stringify(json), "prod.json"),
      /^Error: prod\.json: tlogs\[0\]\.publicKey\.validFor\.start is missing$/,
    );
    json.tlogs[0].publicKey.validFor.start = "yesterday";
    assert.throws(
      () => loadTrustedRoot(JSON.stringify(json), "prod.json"),
      /tlogs\[0\]\.publicKey\.validFor\.start is not an RFC 3339 timestamp/,
    );
  });

  it("loads the production root: CAs with their chains, Rekor and CT keys, TSAs", (t) => {
    const root = productionRoot(t);
    if (!root) return;
    assert.equal(root.certificateAuthorities.length, 2);
    assert.equal(root.certificateAuthorities[1]!.chain.length, 2);
    assert.equal(root.certificateAuthorities[0]!.validFor.end?.toISOString(), "2022-12-31T23:59:59.999Z");
    assert.equal(root.tlogs[0]!.logId.toString("hex").slice(0, 8), "c0d23d6a");
    assert.ok(root.ctlogs.length > 0 && root.timestampAuthorities.length > 0);
  });
});
