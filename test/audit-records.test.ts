// Records: canonical JSON byte for byte as RFC 8785's reference implementation for JavaScript (the
// `canonicalize` package) writes it, the builders the agent uses, and strict reading of stored bytes.
import assert from "node:assert/strict";
import { test } from "node:test";
import canonicalize from "canonicalize";
import { applyRecords, approvalRecord, reconcileRecord } from "../src/agent/records.ts";
import { canonicalJson } from "../src/audit/jcs.ts";
import { IntegrityError } from "../src/audit/proof.ts";
import { decodeRecord, describeRecord, encodeRecord } from "../src/audit/record.ts";
import { makeVerdict } from "../src/core/verdict.ts";
import { finding, shopDeployment, shopReconcile } from "./helpers/audit.ts";

test("JCS: the same bytes as the reference implementation, on RFC 8785's own examples and more", () => {
  const values: unknown[] = [
    // RFC 8785 §3.2.3: members sorted by UTF-16 code units, not code points or UTF-8 bytes.
    {
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis",
    },
    // RFC 8785 §3.2.2.3: numbers as ECMAScript writes them.
    // biome-ignore lint/correctness/noPrecisionLoss: the RFC's own vectors, which round as JSON.parse rounds them
    [333333333.33333329, 1e30, 4.5, 2e-3, 0.000000000000000000000000001, -0, 1e21, 1e-7, 123456789012345680000, 9007199254740991],
    { literals: [null, true, false], string: "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/", nested: { b: [{ z: 1, a: 2 }], a: {} } },
    { skipped: undefined, kept: [undefined, 1] },
    "plain",
    42,
    true,
    null,
    [],
  ];
  for (const v of values) assert.equal(canonicalJson(v), canonicalize(v), JSON.stringify(v));
  assert.throws(() => canonicalJson({ x: NaN }), /not a JSON number/);
  assert.throws(() => canonicalJson("\ud800"), /lone surrogate/);
});

test("records: encoded canonically, read back strictly; anything else in an entry is refused with its index", () => {
  const r = finding(7);
  const bytes = encodeRecord(r);
  assert.equal(bytes.toString(), canonicalize(r));
  assert.deepEqual(decodeRecord(bytes, 3), r);
  const refused: [string, RegExp][] = [
    [JSON.stringify(r, null, 1), /entry 9: not in canonical form/],
    ["{not json", /entry 9: not JSON/],
    [canonicalJson({ ...r, kind: "deploy" }), /entry 9: not a valid record: kind/],
    [canonicalJson({ ...r, payload: { ...r.payload, extra: 1 } }), /entry 9: not a valid record: payload.extra: unknown field/],
  ];
  for (const [text, reason] of refused)
    assert.throws(
      () => decodeRecord(Buffer.from(text), 9),
      (e: unknown) => e instanceof IntegrityError && reason.test(e.message),
    );
  assert.throws(() => decodeRecord(Buffer.from([0x7b, 0xff, 0x7d]), 9), /entry 9: not JSON/);
});

test("builders: a reconcile's commits, signers and gates from its verdict; apply, prune and drift from a sync", () => {
  const reconcile = reconcileRecord(shopReconcile());
  assert.equal(reconcile.kind, "reconcile");
  const p = reconcile.payload as Extract<typeof reconcile, { kind: "reconcile" }>["payload"];
  assert.deepEqual(
    p.commits.map((c) => c.signer),
    ["alice", "bob"],
  );
  assert.deepEqual(
    p.gates.map((g) => [g.gate, g.verdict, g.pass]),
    [
      ["revision", "pass", 2],
      ["render", "pass", 1],
      ["policy", "pass", 1],
      ["artifact", "pass", 1],
    ],
  );
  encodeRecord(reconcile);
  const { objects, sync } = shopDeployment();
  const records = applyRecords({ environment: "prod", revision: p.revision!, objects, sync });
  assert.deepEqual(
    records.map((x) => x.kind),
    ["apply", "prune", "drift"],
  );
  const apply = records[0]!.payload as { objects: { name: string; images: { container: string; digest?: string }[] }[] };
  assert.deepEqual(
    apply.objects.map((o) => [o.name, o.images.map((i) => `${i.container} ${i.digest}`)]),
    [
      ["web", [`container app ${"sha256:" + "a".repeat(64)}`]],
      ["settings", []],
    ],
  );
  for (const x of records) assert.match(describeRecord(x), /\S/);
  encodeRecord(approvalRecord({ environment: "prod", revision: p.revision!, signer: "carol" }));
  assert.throws(
    () => encodeRecord(reconcileRecord({ ...shopReconcile(), verdict: makeVerdict({}, []), revision: "HEAD" })),
    /payload.revision: must be a full commit id/,
  );
});
