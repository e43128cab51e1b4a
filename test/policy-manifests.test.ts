// Reading manifests: every object with the line it starts on, YAML 1.2 as the API server reads it,
// and bad or hostile input refused with the file and line.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { parseManifests } from "../src/manifest/manifests.ts";
import { InputError } from "../src/core/errors.ts";

const refused = (text: string, message: RegExp) =>
  assert.throws(
    () => parseManifests(text, "m.yaml"),
    (e: unknown) => e instanceof InputError && message.test(e.message),
  );

describe("manifest reading", () => {
  it("gives every object of a multi-document file the line its content starts on", () => {
    const text =
      "# header\n---\n# about a\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n\n---\n{apiVersion: v1, kind: Secret, metadata: {name: b}}\n...\n--- \napiVersion: v1\nkind: Service\nmetadata: {name: c}\n";
    const found = parseManifests(text, "m.yaml").map((o) => [o.object.kind, o.line]);
    assert.deepEqual(found, [
      ["ConfigMap", 4],
      ["Secret", 10],
      ["Service", 13],
    ]);
  });

  it("flattens List kinds and reads JSON", () => {
    const json = JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        { apiVersion: "v1", kind: "Pod", metadata: { name: "p" } },
        { apiVersion: "v1", kind: "Service" },
      ],
    });
    assert.deepEqual(
      parseManifests(json, "l.json").map((o) => o.object.kind),
      ["Pod", "Service"],
    );
  });

  it("reads YAML 1.2 core: no yes/no booleans, no timestamps, 0o octal", () => {
    const [o] = parseManifests("apiVersion: v1\nkind: ConfigMap\ndata: {a: yes, b: 2020-01-01}\nn: 0o17\n", "m.yaml");
    assert.deepEqual(o!.object.data, { a: "yes", b: "2020-01-01" });
    assert.equal(o!.object.n, 15);
  });

  it("refuses invalid YAML and duplicate keys with file, line and column", () => {
    refused("apiVersion: v1\nkind: A\nx: [\n", /^m\.yaml:4:1: invalid YAML/);
    refused("apiVersion: v1\nkind: A\nmetadata: {}\nkind: B\n", /^m\.yaml:4:1: invalid YAML: duplicated mapping key/);
  });

  it("refuses documents that are not objects with apiVersion and kind", () => {
    refused("- a\n- b\n", /m\.yaml:1: a manifest must be a mapping/);
    refused("kind: A\n", /m\.yaml:1: manifest has no apiVersion/);
  });

  it("accepts ordinary anchors and refuses an alias bomb before anything walks it", () => {
    const [o] = parseManifests("apiVersion: v1\nkind: A\nbase: &b {x: 1}\nother: *b\n", "m.yaml");
    assert.deepEqual(o!.object.other, { x: 1 });
    let bomb = "apiVersion: v1\nkind: A\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (let i = 1; i < 10; i++)
      bomb += `l${i}: &l${i} [${Array(9)
        .fill(`*l${i - 1}`)
        .join(", ")}]\n`;
    refused(bomb, /expands to more than 1000000 nodes through aliases/);
  });
});
