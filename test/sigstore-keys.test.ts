// cosign key pairs both ways: keys cosign generates open in Vigil and sign what cosign verifies, and
// Vigil's keys (every algorithm) sign with cosign and verify in Vigil. Real cosign v3, offline.
import { strict as assert } from "node:assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import {
  SIGNING_ALGORITHMS,
  decryptPrivateKey,
  encryptPrivateKey,
  generateSigningKey,
  loadPublicKey,
  publicKeyPem,
  signData,
  verifyData,
} from "../src/sigstore/keys.ts";
import { requireTools, run, tempDir, vigil } from "./helpers/tools.ts";

const PASSWORD = { COSIGN_PASSWORD: "correct horse" };

function workspace(t: TestContext): string {
  const dir = tempDir(t);
  writeFileSync(join(dir, "artifact.txt"), "release 1.2.3\n");
  return dir;
}

function cosign(dir: string, args: string[]): string {
  return run("cosign", args, { cwd: dir, env: PASSWORD });
}

describe("cosign keys", () => {
  it("opens a key pair cosign generated, and cosign verifies what Vigil signs with it (bundle and bare signature)", (t) => {
    if (!requireTools(t, ["cosign"])) return;
    const dir = workspace(t);
    cosign(dir, ["generate-key-pair"]);
    const key = decryptPrivateKey(readFileSync(join(dir, "cosign.key"), "utf8"), PASSWORD.COSIGN_PASSWORD, "cosign.key");
    assert.equal(publicKeyPem(key.publicKey), publicKeyPem(loadPublicKey(readFileSync(join(dir, "cosign.pub"), "utf8"), "cosign.pub")));

    const signed = vigil(
      ["sign", "blob", "artifact.txt", "--key", "cosign.key", "--bundle", "vigil.bundle", "--output-signature", "vigil.sig"],
      { cwd: dir, env: PASSWORD },
    );
    assert.equal(signed.status, 0, signed.stderr);
    cosign(dir, ["verify-blob", "--key", "cosign.pub", "--bundle", "vigil.bundle", "--insecure-ignore-tlog", "artifact.txt"]);
    cosign(dir, [
      "verify-blob",
      "--key",
      "cosign.pub",
      "--signature",
      "vigil.sig",
      "--insecure-ignore-tlog",
      "--new-bundle-format=false",
      "artifact.txt",
    ]);

    // And what cosign signs with its own key, Vigil verifies.
    cosign(dir, [
      "sign-blob",
      "--key",
      "cosign.key",
      "--bundle",
      "cosign.bundle",
      "--tlog-upload=false",
      "--use-signing-config=false",
      "-y",
      "artifact.txt",
    ]);
    const out = vigil(["verify", "blob", "artifact.txt", "--bundle", "cosign.bundle", "--key", "cosign.pub", "--insecure-ignore-tlog"], {
      cwd: dir,
    });
    assert.equal(out.status, 0, out.stdout + out.stderr);
    assert.match(out.stdout, /PASS\s+artifact\s+signature\s+artifact.txt\s+signed by cosign.pub \(ecdsa-p256 SHA256:/);
    // Its bare signature too; and without a log entry, only when that is accepted explicitly.
    cosign(dir, [
      "sign-blob",
      "--key",
      "cosign.key",
      "--new-bundle-format=false",
      "--tlog-upload=false",
      "--use-signing-config=false",
      "--output-signature",
      "cosign.sig",
      "-y",
      "artifact.txt",
    ]);
    assert.equal(
      vigil(["verify", "blob", "artifact.txt", "--signature", "cosign.sig", "--key", "cosign.pub", "--insecure-ignore-tlog"], { cwd: dir })
        .status,
      0,
    );
    const strict = vigil(["verify", "blob", "artifact.txt", "--bundle", "cosign.bundle", "--key", "cosign.pub", "--json"], { cwd: dir });
    assert.equal(strict.status, 1);
    assert.match(strict.json().checks[0].message, /no transparency-log entry.*--insecure-ignore-tlog/);
    writeFileSync(join(dir, "artifact.txt"), "release 1.2.4\n");
    const changed = vigil(
      ["verify", "blob", "artifact.txt", "--signature", "cosign.sig", "--key", "cosign.pub", "--insecure-ignore-tlog", "--json"],
      { cwd: dir },
    );
    assert.equal(changed.status, 1);
    assert.match(changed.json().checks[0].message, /does not verify with the given key/);
  });

  for (const algorithm of Object.keys(SIGNING_ALGORITHMS).filter((a) => !/3072|4096/.test(a))) {
    it(`a Vigil ${algorithm} key pair signs with cosign and Vigil, and each verifies the other`, (t) => {
      if (!requireTools(t, ["cosign"])) return;
      const dir = workspace(t);
      const made = vigil(["generate-key-pair", "--algorithm", algorithm, "--json"], { cwd: dir, env: PASSWORD });
      assert.equal(made.status, 0, made.stderr);
      assert.deepEqual(Object.keys(made.json()), ["privateKey", "publicKey", "algorithm", "key"]);

      cosign(dir, [
        "sign-blob",
        "--key",
        "cosign.key",
        "--bundle",
        "cosign.bundle",
        "--tlog-upload=false",
        "--use-signing-config=false",
        "-y",
        "artifact.txt",
      ]);
      const verified = vigil(
        ["verify", "blob", "artifact.txt", "--bundle", "cosign.bundle", "--key", "cosign.pub", "--insecure-ignore-tlog"],
        { cwd: dir },
      );
      assert.equal(verified.status, 0, verified.stdout + verified.stderr);

      assert.equal(
        vigil(["sign", "blob", "artifact.txt", "--key", "cosign.key", "--bundle", "vigil.bundle"], { cwd: dir, env: PASSWORD }).status,
        0,
      );
      // Vigil writes the bundle cosign writes: the same message digest (algorithm and value), or none for Ed25519.
      const digestOf = (file: string) => JSON.parse(readFileSync(join(dir, file), "utf8")).messageSignature.messageDigest ?? {};
      assert.deepEqual(digestOf("vigil.bundle"), digestOf("cosign.bundle"));
      // cosign v3.1.3 refuses even its own sign-blob bundles for P-384 and P-521 keys (it verifies them
      // with SHA-256) and for Ed25519 keys ("message is missing artifact digest"); for the others it must accept Vigil's.
      if (!/nistp384|nistp521|ed25519/.test(algorithm))
        cosign(dir, ["verify-blob", "--key", "cosign.pub", "--bundle", "vigil.bundle", "--insecure-ignore-tlog", "artifact.txt"]);
    });
  }

  it("refuses a wrong password and an altered key file, naming the file (exit 2)", (t) => {
    const dir = workspace(t);
    assert.equal(vigil(["generate-key-pair"], { cwd: dir, env: PASSWORD }).status, 0);
    const wrong = vigil(["sign", "blob", "artifact.txt", "--key", "cosign.key"], { cwd: dir, env: { COSIGN_PASSWORD: "battery staple" } });
    assert.equal(wrong.status, 2);
    assert.match(wrong.stderr, /cosign\.key: the password is wrong, or the key file was altered/);

    const pem = readFileSync(join(dir, "cosign.key"), "utf8");
    const doc = JSON.parse(Buffer.from(pem.split("\n").slice(1, -2).join(""), "base64").toString());
    const ciphertext = Buffer.from(doc.ciphertext, "base64");
    ciphertext[10]! ^= 1;
    doc.ciphertext = ciphertext.toString("base64");
    writeFileSync(join(dir, "altered.key"), pemOf("ENCRYPTED SIGSTORE PRIVATE KEY", JSON.stringify(doc)));
    const altered = vigil(["sign", "blob", "artifact.txt", "--key", "altered.key"], { cwd: dir, env: PASSWORD });
    assert.equal(altered.status, 2);
    assert.match(altered.stderr, /altered\.key: the password is wrong, or the key file was altered/);
  });

  it("refuses a key file that asks for ruinous scrypt work, before doing any of it", () => {
    const key = generateSigningKey();
    const pem = encryptPrivateKey(key.privateKey, "pw");
    const doc = JSON.parse(Buffer.from(pem.split("\n").slice(1, -2).join(""), "base64").toString());
    doc.kdf.params.N = 2 ** 30;
    const started = Date.now();
    assert.throws(
      () => decryptPrivateKey(pemOf("ENCRYPTED SIGSTORE PRIVATE KEY", JSON.stringify(doc)), "pw", "hostile.key"),
      /hostile\.key: kdf\.params ask for more scrypt work than a key file may/,
    );
    assert.ok(Date.now() - started < 1000);
    doc.kdf.params.N = 3;
    assert.throws(
      () => decryptPrivateKey(pemOf("ENCRYPTED SIGSTORE PRIVATE KEY", JSON.stringify(doc)), "pw", "odd.key"),
      /odd\.key: kdf\.params\.N must be a power of two/,
    );
  });

  it("opens the older ENCRYPTED COSIGN PRIVATE KEY form and refuses other PEM blocks", () => {
    const key = generateSigningKey();
    const body = pemBody(encryptPrivateKey(key.privateKey, "pw"));
    const old = decryptPrivateKey(pemOf("ENCRYPTED COSIGN PRIVATE KEY", body), "pw", "old.key");
    assert.equal(publicKeyPem(old.publicKey), publicKeyPem(key.publicKey));
    assert.throws(
      () => decryptPrivateKey(pemOf("PRIVATE KEY", body), "pw", "plain.key"),
      /plain\.key: a "PRIVATE KEY" PEM block is not a cosign private key/,
    );
    assert.throws(() => loadPublicKey(pemOf("PUBLIC KEY", "not a key"), "bad.pub"), /bad\.pub: not a valid public key/);
  });

  it("asks for no password when there is no terminal and COSIGN_PASSWORD is unset, and never overwrites keys", (t) => {
    const dir = workspace(t);
    const noPassword = vigil(["generate-key-pair"], { cwd: dir, env: { COSIGN_PASSWORD: undefined } });
    assert.equal(noPassword.status, 2);
    assert.match(noPassword.stderr, /set COSIGN_PASSWORD/);
    assert.equal(vigil(["generate-key-pair"], { cwd: dir, env: { COSIGN_PASSWORD: "" } }).status, 0, "an empty password is a password");
    const again = vigil(["generate-key-pair"], { cwd: dir, env: { COSIGN_PASSWORD: "" } });
    assert.equal(again.status, 2);
    assert.match(again.stderr, /cosign\.key and cosign\.pub already exist; pass --force/);
  });

  it("asks for the password twice on a terminal, without echoing it, and the key opens with it", (t) => {
    if (!requireTools(t, ["python3"])) return;
    const dir = workspace(t);
    // python3's pty module gives the command a real terminal; it types only after each prompt appeared.
    const driver = [
      "import os, pty, sys",
      "pid, fd = pty.fork()",
      "if pid == 0: os.execv(sys.argv[1], sys.argv[1:])",
      "out = b''",
      "for answer in (b'tty secret', b'tty secret'):",
      "    while not out.endswith(b': '): out += os.read(fd, 1)",
      "    os.write(fd, answer + b'\\r'); out += b'|'",
      "while True:",
      "    try: data = os.read(fd, 1024)",
      "    except OSError: break",
      "    if not data: break",
      "    out += data",
      "sys.stdout.write(out.decode()); sys.exit(os.waitpid(pid, 0)[1] >> 8)",
    ].join("\n");
    const env = { ...process.env, COSIGN_PASSWORD: undefined };
    const cli = new URL("../src/cli/main.ts", import.meta.url).pathname;
    const out = run("python3", ["-c", driver, process.execPath, cli, "generate-key-pair"], { cwd: dir, env });
    assert.match(out, /Enter password for private key: \|[\s\S]*Enter password for private key again: \|/);
    assert.doesNotMatch(out, /tty secret/, "the password must not be echoed");
    decryptPrivateKey(readFileSync(join(dir, "cosign.key"), "utf8"), "tty secret", "cosign.key");
  });

  it("signs RSA with PKCS#1 v1.5 by default and PSS when asked, and verifies both", () => {
    const key = generateSigningKey("rsa-sign-pkcs1-2048-sha256");
    const data = Buffer.from("payload");
    assert.ok(verifyData(key.publicKey, data, signData(key, data)));
    assert.ok(verifyData(key.publicKey, data, signData({ ...key, rsaPss: true }, data)));
    assert.ok(!verifyData(generateSigningKey("rsa-sign-pkcs1-2048-sha256").publicKey, data, signData(key, data)));
  });
});

function pemBody(pem: string): string {
  return Buffer.from(pem.split("\n").slice(1, -2).join(""), "base64").toString();
}

function pemOf(type: string, body: string): string {
  return `-----BEGIN ${type}-----\n${Buffer.from(body)
    .toString("base64")
    .match(/.{1,64}/g)!
    .join("\n")}\n-----END ${type}-----\n`;
}
