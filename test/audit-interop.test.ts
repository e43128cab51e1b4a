// The log checked without Vigil, as docs/audit.md shows: a checkpoint's Ed25519 signature with OpenSSL
// from the verifier key alone, and an exported record's leaf hash with sha256sum.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { openAuditLog } from "../src/audit/index.ts";
import { finding, makeLogKey } from "./helpers/audit.ts";
import { requireTools, run, tempDir, vigil } from "./helpers/tools.ts";

test("OpenSSL verifies a checkpoint's signature and sha256sum an entry's leaf hash, with the commands in docs/audit.md", async (t) => {
  if (!requireTools(t, ["openssl", "sha256sum", "base64", "awk", "python3"])) return;
  const dir = tempDir(t);
  const key = makeLogKey(dir);
  writeFileSync(join(dir, "audit.key.pub"), key.verifierKey + "\n");
  const log = await openAuditLog(join(dir, "log"), { signingKeyFile: key.file });
  await log.append([finding(0), finding(1), finding(2)]);
  await log.close();
  const script = [
    "key=$(cat audit.key.pub); note=log/checkpoint",
    "{ printf '\\060\\052\\060\\005\\006\\003\\053\\145\\160\\003\\041\\000'; echo \"$key\" | cut -d+ -f3- | base64 -d | tail -c 32; } > pub.der",
    "openssl pkey -pubin -inform DER -in pub.der -out pub.pem",
    "awk '/^$/{exit} {print}' \"$note\" > body",
    "grep '^— ' \"$note\" | head -1 | awk '{print $3}' | base64 -d | tail -c 64 > sig",
    "openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in body -sigfile sig",
  ].join("\n");
  assert.match(run("sh", ["-c", script], { cwd: dir }), /Signature Verified Successfully/);
  writeFileSync(join(dir, "log", "checkpoint"), run("sh", ["-c", "sed 's/^3$/4/' log/checkpoint"], { cwd: dir }));
  assert.throws(() => run("sh", ["-c", script], { cwd: dir }), /Signature Verification Failure|failed/);

  const exported = vigil(["audit", "export", "--log", join(dir, "log"), "--from", "1"]).stdout.split("\n")[0]!;
  writeFileSync(join(dir, "line.json"), exported);
  const entry = `python3 -c '${CANONICAL_ENTRY}' < line.json`;
  assert.equal(
    run("sh", ["-c", `${entry} | { printf '\\0'; cat; } | sha256sum`], { cwd: dir }).split(" ")[0],
    JSON.parse(exported).leafHash,
  );
});

/** docs/audit.md's one-liner: an export line less index and leafHash, as canonical JSON (JCS, for
 *  Vigil's records: ASCII member names, integer numbers). */
const CANONICAL_ENTRY =
  'import json,sys; r=json.load(sys.stdin); del r["index"], r["leafHash"]; sys.stdout.write(json.dumps(r, sort_keys=True, separators=(",",":"), ensure_ascii=False))';
