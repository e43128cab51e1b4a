// Signed notes and checkpoints: byte for byte as the C2SP formats' reference implementation writes them,
// and every malformed, altered or foreign one refused with its reason.
//
// Vector: the key pair "PeterNeumann" and its signed note published in Go's golang.org/x/mod/sumdb/note
// tests (the signature is Ed25519, deterministic, so signing the same text must give the same bytes).
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatCheckpointBody, openCheckpoint, signCheckpoint } from "../src/audit/checkpoint.ts";
import { EMPTY_ROOT } from "../src/audit/hash.ts";
import { generateSignerKey, openNote, parseSignerKey, parseVerifierKey, signNote } from "../src/audit/note.ts";
import { IntegrityError } from "../src/audit/proof.ts";

const VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const NOTE = `${TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

test("the published key pair and note: same key hash, same signature, and it opens", () => {
  const signer = parseSignerKey(SKEY);
  const verifier = parseVerifierKey(VKEY);
  assert.equal(signer.verifier.key, VKEY);
  assert.equal(verifier.keyHash, 0xc74f20a3);
  assert.equal(signNote(TEXT, signer), NOTE);
  assert.deepEqual(openNote(NOTE, verifier), { text: TEXT, signatures: [{ name: "PeterNeumann", keyHash: 0xc74f20a3 }] });
});

test("key strings: manglings refused with the reason", () => {
  const cases: [string, RegExp][] = [
    ["PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /does not match the name and key/],
    ["Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /spaces/],
    ["PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /eight lowercase hex/],
    [
      `PeterNeumann+c74f20a3+${Buffer.concat([Buffer.of(2), Buffer.from(VKEY.split("+")[2]!, "base64").subarray(1)]).toString("base64")}`,
      /Ed25519/,
    ],
    ["PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", /base64/],
    ["PeterNeumann+c74f20a3", /Ed25519|base64/],
  ];
  for (const [key, reason] of cases) assert.throws(() => parseVerifierKey(key), reason, key);
  assert.throws(() => parseSignerKey(VKEY), /not a signing key/);
  assert.throws(() => parseSignerKey(SKEY.replace("c74f20a3", "c74f20a4")), /does not match/);
});

test("notes: altered text, foreign and bad signatures, malformed signature lines", () => {
  const verifier = parseVerifierKey(VKEY);
  const other = parseSignerKey(generateSignerKey("PeterNeumann").signerKey);
  const stranger = parseSignerKey(generateSignerKey("witness.example").signerKey);
  assert.throws(() => openNote(NOTE.replace("cryptography", "cryptographY"), verifier), /does not verify: the note was changed/);
  assert.throws(
    () => openNote(signNote(TEXT, other), verifier),
    /not signed by PeterNeumann\+c74f20a3 \(signed by PeterNeumann\+[0-9a-f]{8}\)/,
  );
  // A witness's cosignature is listed and ignored; the log's own must still be there.
  const cosigned = NOTE + signNote(TEXT, stranger).slice(TEXT.length + 1);
  assert.equal(openNote(cosigned, verifier).signatures.length, 2);
  const malformed: [string, RegExp][] = [
    [TEXT, /no blank line/],
    [`${TEXT}\n— PeterNeumann x08go\n`, /malformed signature line/],
    [
      `${TEXT}\n-- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`,
      /malformed signature line/,
    ],
    [NOTE.slice(0, -1), /must end with a newline/],
    [`a\x07b\n${NOTE.slice(TEXT.length)}`, /control character/],
    [`${TEXT}\n${"— x AAAAAAAA\n".repeat(101)}`, /more than 100/],
  ];
  for (const [note, reason] of malformed) assert.throws(() => openNote(note, verifier), reason);
});

test("checkpoints: origin, size and root, signed; a changed or foreign one refused", () => {
  const { signerKey, verifierKey } = generateSignerKey("vigil.dev/audit/test");
  const signer = parseSignerKey(signerKey);
  const verifier = parseVerifierKey(verifierKey);
  const cp = signCheckpoint(signer, 0, EMPTY_ROOT);
  assert.ok(cp.note.startsWith("vigil.dev/audit/test\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— vigil.dev/audit/test "));
  assert.deepEqual(openCheckpoint(cp.note, verifier), cp);
  const body = formatCheckpointBody("vigil.dev/audit/test", 0, EMPTY_ROOT);
  const resigned = (text: string) => signNote(text, signer);
  assert.throws(() => openCheckpoint(cp.note.replace("\n0\n", "\n1\n"), verifier), /does not verify/);
  assert.throws(() => openCheckpoint(resigned(body.replace("\n0\n", "\n01\n")), verifier), /tree size "01"/);
  assert.throws(() => openCheckpoint(resigned(body.replace("\n0\n", "\n-1\n")), verifier), /tree size/);
  assert.throws(() => openCheckpoint(resigned("vigil.dev/audit/test\n0\n"), verifier), /root hash/);
  assert.throws(() => openCheckpoint(resigned(body.replace("=\n", "\n")), verifier), /root hash/);
  assert.throws(
    () => openCheckpoint(signCheckpoint(parseSignerKey(generateSignerKey("other").signerKey), 0, EMPTY_ROOT).note, verifier),
    IntegrityError,
  );
  const elsewhere = parseSignerKey(generateSignerKey("vigil.dev/audit/test").signerKey);
  assert.throws(() => openCheckpoint(signCheckpoint(elsewhere, 0, EMPTY_ROOT).note, verifier), /not signed by vigil.dev\/audit\/test\+/);
});
