// A manifest set read a document at a time (issue 15 §4): where files are cut into documents, that
// each document and object is bounded and refused naming its file and line, and that the agent's
// render of a revision gives the same objects, in the same order with the same lines, as parsing
// each file whole.
import { strict as assert } from "node:assert";
import { test, type TestContext } from "node:test";
import { join } from "node:path";
import { InputError } from "../src/core/errors.ts";
import { openRepo } from "../src/git/repo.ts";
import { parseManifests } from "../src/manifest/manifests.ts";
import { renderRevision } from "../src/render/index.ts";
import { parseManifestsByDocument, yamlDocuments } from "../src/render/documents.ts";
import { TestRepo } from "./helpers/git-fixture.ts";
import { requireTools, tempDir } from "./helpers/tools.ts";

const configMap = (name: string, extra = "") => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: x\n${extra}`;

test("a file is cut at its document markers only: not at '---' inside a block scalar's content, at '...' before a directive", () => {
  const text = [
    "# a comment before the first document",
    configMap("a", "  script: |\n    echo one\n    --- not a marker: indented content\n    echo two\n"),
    "---",
    configMap("b"),
    "--- # a marker with a comment",
    configMap("c"),
    "...",
    "%YAML 1.2",
    "---",
    configMap("d"),
    "----not-a-marker: 1",
  ].join("\n");
  const docs = [...yamlDocuments(text, "f.yaml")];
  assert.deepEqual(
    docs.map((d) => d.line),
    [1, 13, 21, 30],
  );
  assert.equal(docs[3]!.text.startsWith("%YAML 1.2\n---\n"), true, "the directive belongs to the document after it");
  const whole = parseManifests(text, "f.yaml");
  assert.deepEqual(parseManifestsByDocument(text, "f.yaml"), whole, "same objects, same lines");
  assert.deepEqual(
    whole.map((o) => [o.object.metadata?.name, o.line]),
    [
      ["a", 2],
      ["b", 14],
      ["c", 22],
      ["d", 32],
    ],
  );
});

test("errors name the file's own line, not the document's", () => {
  const text = `${configMap("a")}---\n${configMap("b")}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c\n`;
  let expected = "";
  try {
    parseManifests(text, "f.yaml");
  } catch (e) {
    expected = (e as Error).message;
  }
  assert.throws(
    () => parseManifestsByDocument(text, "f.yaml"),
    (e: Error) => e instanceof InputError && e.message === expected,
  );
  assert.match(expected, /^f\.yaml:18:1: invalid YAML/);
});

test("a huge document is refused before it is parsed, naming file and line; an alias bomb in a later document names the file and the document's line", () => {
  const big = `${configMap("a")}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  value: "${"x".repeat(2048)}"\n`;
  assert.throws(
    () => [...yamlDocuments(big, "envs/prod/big.yaml", 1024)],
    (e: Error) =>
      e instanceof InputError &&
      /^envs\/prod\/big\.yaml:7: a YAML document of \d+ bytes, more than the 1024 Vigil reads as one object; split it$/.test(e.message),
  );
  // The classic "billion laughs": nine levels of nine aliases each, in 300 bytes.
  const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i < 9; i++)
    levels.push(
      `${"abcdefghi"[i]}: &${"abcdefghi"[i]} [${Array(9)
        .fill(`*${"abcdefghi"[i - 1]}`)
        .join(", ")}]`,
    );
  const bomb = `${configMap("fine")}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n${levels.map((l) => `  ${l}`).join("\n")}\n`;
  assert.throws(
    () => parseManifestsByDocument(bomb, "envs/prod/bomb.yaml"),
    (e: Error) => e instanceof InputError && /^envs\/prod\/bomb\.yaml:7: a YAML document expands to more than/.test(e.message),
  );
});

test("the agent's render of a revision reads the set a file and a document at a time: same objects and order as whole files; a bad file named", async (t: TestContext) => {
  if (!requireTools(t, ["git"])) return;
  const repo = new TestRepo(join(tempDir(t, "vigil-docs-"), "config"));
  const files: Record<string, string> = {};
  for (let f = 0; f < 30; f++)
    files[`envs/prod/f${String(f).padStart(2, "0")}.yaml`] = Array.from({ length: 20 }, (_, d) => configMap(`cm-${f}-${d}`)).join("---\n");
  const commit = repo.commit(files, null);
  const opened = await openRepo(repo.dir);
  t.after(() => opened.close());
  const rendered = await renderRevision(opened, commit, "envs/prod");
  const expected = Object.entries(files)
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([path, text]) => parseManifests(text, path));
  assert.deepEqual(rendered.objects, expected);
  assert.equal(rendered.objects.length, 600);

  const broken = repo.commit({ "envs/prod/f17.yaml": `${configMap("ok")}---\nkind: [\n` }, null);
  await assert.rejects(
    renderRevision(opened, broken, "envs/prod"),
    (e: Error) => e instanceof InputError && /^envs\/prod\/f17\.yaml:9:\d+: invalid YAML/.test(e.message),
  );
});
