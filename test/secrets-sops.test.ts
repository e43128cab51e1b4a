// SOPS interop: files encrypted by the real sops binary (age and PGP recipients) decrypt in Vigil with
// their MAC verified; a tampered file, a wrong key and malformed metadata are refused with the reason.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { generateX25519Identity, identityToRecipient } from "age-encryption";
import { parse, parseAllDocuments } from "yaml";
import { ExitCode, InputError } from "../src/core/errors.ts";
import { SopsError, decryptSopsManifest, decryptSopsObjects, goFormatFloat, sopsKeysFromSecretData } from "../src/secrets/sops.ts";
import { GpgHome } from "./helpers/gpg-fixture.ts";
import { fileScope, requireTools, run, tempDir } from "./helpers/tools.ts";

const scope = fileScope();
const dir = tempDir(scope, "vigil-sops-");

const secretManifest = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: payments
type: Opaque
stringData:
  password: "correct horse battery staple 42"
  port: 5432
  ratio: 0.000001
  enabled: false
  hosts:
    - primary.db.internal
    - replica: replica.db.internal
`;

async function ageKey(): Promise<{ identity: string; recipient: string }> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

/** Encrypts `plain` with the real sops; extra arguments select recipients and rules. */
function sops(plain: string, args: string[], env: NodeJS.ProcessEnv = {}, name = "in.yaml"): string {
  const file = join(dir, name);
  writeFileSync(file, plain);
  return run("sops", ["--encrypt", ...args, file], { env: { SOPS_AGE_KEY_FILE: "/nonexistent", ...env } });
}

test("an age-encrypted Secret from the real sops decrypts to the same values, its MAC verified", async (t) => {
  if (!requireTools(t, ["sops"])) return;
  const key = await ageKey();
  const encrypted = sops(secretManifest, ["--age", key.recipient, "--encrypted-regex", "^(data|stringData)$"]);
  assert.ok(!encrypted.includes("correct horse"), "sops encrypted the value");
  const plain = await decryptSopsManifest(encrypted, { age: [key.identity] }, "apps/db.yaml");
  assert.deepEqual(parse(plain), parse(secretManifest));
  assert.ok(!plain.includes("sops:"), "the metadata is dropped");
});

test("every value type, unencrypted suffixes, mac_only_encrypted and multi-document files", async (t) => {
  if (!requireTools(t, ["sops"])) return;
  const key = await ageKey();
  const plain =
    "a: 1\nbig: 9007199254740993\nname_unencrypted: visible\nlist: [1, 2.25, true, null, 'x', 1e-7]\n---\nkind: ConfigMap\nd: hello\n";
  for (const args of [
    ["--unencrypted-suffix", "_unencrypted"],
    ["--mac-only-encrypted", "--encrypted-regex", "^(d|a)$"],
    ["--unencrypted-regex", "^kind$"],
  ]) {
    const encrypted = sops(plain, ["--age", key.recipient, ...args]);
    const out = await decryptSopsManifest(encrypted, { age: [key.identity] });
    assert.deepEqual(
      parseAllDocuments(out).map((d) => d.toJS({ intAsBigInt: true })),
      parseAllDocuments(plain).map((d) => d.toJS({ intAsBigInt: true })),
      args.join(" "),
    );
  }
  assert.equal(goFormatFloat(1e-7), "0.0000001");
  assert.equal(goFormatFloat(1.5e21), "1500000000000000000000");
  assert.equal(goFormatFloat(-2.25), "-2.25");
});

test("PGP recipients: a file sops encrypted with gpg decrypts with the armored private key", async (t) => {
  if (!requireTools(t, ["sops", "gpg"])) return;
  const home = new GpgHome(tempDir(t, "vigil-gnupg-"));
  const fpr = home.generate("SOPS Team <sops@example.com>", "rsa3072", "cert");
  home.gpg(["--quick-add-key", fpr, "rsa3072", "encr", "never"]);
  const encrypted = sops(secretManifest, ["--pgp", fpr], { GNUPGHOME: home.dir });
  const armored = home.gpg(["--armor", "--export-secret-keys", fpr]);
  assert.deepEqual(parse(await decryptSopsManifest(encrypted, { pgp: [armored] })), parse(secretManifest));
  // Another PGP key is not a recipient.
  const other = new GpgHome(tempDir(t, "vigil-gnupg-"));
  const otherFpr = other.generate("Someone <x@example.com>", "ed25519", "cert");
  other.gpg(["--quick-add-key", otherFpr, "cv25519", "encr", "never"]);
  await assert.rejects(decryptSopsManifest(encrypted, { pgp: [other.gpg(["--armor", "--export-secret-keys", otherFpr])] }), SopsError);
});

test("tampering is refused: a changed, moved, removed, added or swapped value, or changed metadata", async (t) => {
  if (!requireTools(t, ["sops"])) return;
  const key = await ageKey();
  const keys = { age: [key.identity] };
  const encrypted = sops("user: admin\npassword: s3cret-value\nreplicas: 3\nnote_unencrypted: hello\n", [
    "--age",
    key.recipient,
    "--unencrypted-suffix",
    "_unencrypted",
  ]);
  const lines = encrypted.split("\n");
  const value = (k: string) => lines.find((l) => l.startsWith(`${k}: `))!.slice(k.length + 2);
  const cases: [string, string, RegExp][] = [
    ["an unencrypted value changed", encrypted.replace("note_unencrypted: hello", "note_unencrypted: bye"), /MAC does not match/],
    [
      "two values swapped between keys",
      encrypted.replace(value("user"), "@@U").replace(value("password"), value("user")).replace("@@U", value("password")),
      /does not decrypt under the file's key at this path/,
    ],
    ["a value removed", encrypted.replace(/^replicas: .*\n/m, ""), /MAC does not match/],
    ["a value added", encrypted.replace("user:", "extra_unencrypted: injected\nuser:"), /MAC does not match/],
    [
      "a ciphertext byte flipped",
      encrypted.replace(/(password: ENC\[AES256_GCM,data:)(.)/, (_m, a, c) => a + (c === "A" ? "B" : "A")),
      /does not decrypt/,
    ],
    ["an encrypted value replaced by plaintext", encrypted.replace(value("password"), "plain"), /in clear/],
    [
      "lastmodified changed",
      encrypted.replace(/lastmodified: "([^"]+)"/, 'lastmodified: "2020-01-01T00:00:00Z"'),
      /sops\.mac does not decrypt/,
    ],
    [
      "the unencrypted suffix changed",
      encrypted.replace("unencrypted_suffix: _unencrypted", "unencrypted_suffix: _plain"),
      /in clear|MAC|does not decrypt/,
    ],
  ];
  for (const [what, text, reason] of cases) {
    assert.notEqual(text, encrypted, what);
    await assert.rejects(decryptSopsManifest(text, keys, "apps/db.yaml"), (e: Error) => {
      assert.ok(e instanceof SopsError, `${what}: ${e.message}`);
      assert.equal(e.exitCode, ExitCode.blocked);
      assert.match(e.message, reason, what);
      assert.match(e.message, /^apps\/db\.yaml: /);
      assert.ok(!e.message.includes("s3cret-value") && !e.message.includes("admin"), "no plaintext in the message");
      return true;
    });
  }
  // A value copied from another file encrypted under another data key does not decrypt here either.
  const other = sops("password: other\n", ["--age", key.recipient], {}, "other.yaml");
  const foreign = /^password: (.*)$/m.exec(other)![1]!;
  await assert.rejects(decryptSopsManifest(encrypted.replace(value("password"), foreign), keys), /does not decrypt/);
});

test("a wrong key, no key and files Vigil cannot open are refused with the reason", async (t) => {
  if (!requireTools(t, ["sops"])) return;
  const key = await ageKey();
  const wrong = await ageKey();
  const encrypted = sops("password: s3cret\n", ["--age", key.recipient]);
  await assert.rejects(
    decryptSopsManifest(encrypted, { age: [wrong.identity] }),
    (e: Error) => e instanceof SopsError && /none of the agent's keys \(1 age, 0 PGP\) is a recipient/.test(e.message),
  );
  await assert.rejects(decryptSopsManifest(encrypted, {}), SopsError);
  await assert.rejects(
    decryptSopsManifest("kind: Secret\nstringData: { a: b }\n", { age: [key.identity] }, "x.yaml"),
    (e: Error) => e instanceof InputError && /x\.yaml: document 1 has no sops metadata/.test(e.message),
  );
  await assert.rejects(
    decryptSopsManifest(encrypted.replace(/lastmodified: .*/, "lastmodified: yesterday"), { age: [key.identity] }),
    /lastmodified.*not an RFC 3339 time/,
  );
  await assert.rejects(
    decryptSopsManifest(encrypted.replace(/sops:\n/, "sops:\n    shamir_threshold: 2\n"), { age: [key.identity] }),
    /Shamir/,
  );
  await assert.rejects(decryptSopsManifest("a: [\n", { age: [key.identity] }, "bad.yaml"), /bad\.yaml:\d+/);
  await assert.rejects(decryptSopsManifest("x".repeat((4 << 20) + 1), { age: [key.identity] }, "huge.yaml"), /more than the/);
});

test("the agent's keys from a Secret's data, and a render's objects decrypted in memory file by file", async (t) => {
  if (!requireTools(t, ["sops"])) return;
  const key = await ageKey();
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const keys = sopsKeysFromSecretData({ "age.agekey": b64(`# created by age-keygen\n${key.identity}\n`) }, "vigil-system/sops-keys");
  assert.deepEqual(keys.age, [key.identity]);
  assert.throws(
    () => sopsKeysFromSecretData({ "age.agekey": b64("not a key") }, "s"),
    (e: Error) => e instanceof InputError && !e.message.includes("not a key"),
  );
  assert.throws(() => sopsKeysFromSecretData({}, "s"), /no age/);
  const file = "apps/db.yaml";
  const encrypted = sops(secretManifest, ["--age", key.recipient, "--encrypted-regex", "^(data|stringData)$"]);
  const objects = [
    { object: { kind: "ConfigMap", metadata: { name: "plain" } }, file: "apps/cm.yaml", line: 1 },
    { object: parse(encrypted) as Record<string, unknown>, file, line: 1 },
  ];
  const out = await decryptSopsObjects(
    objects,
    async (f) => {
      assert.equal(f, file);
      return Buffer.from(encrypted);
    },
    keys,
  );
  assert.equal(out.length, 2);
  assert.deepEqual(out[0], objects[0]);
  assert.deepEqual(out[1]!.object, parse(secretManifest));
  assert.equal(out[1]!.file, file);
});
