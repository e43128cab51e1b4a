// Render, plain folders: every YAML and JSON file under the environment's path (multi-document files,
// List kinds), each object named by its file relative to the revision's root and its line; nothing
// outside the root is read, by a path or a symbolic link.
import { strict as assert } from "node:assert";
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { renderDirectory } from "../src/render/index.ts";
import { checkout, renderRefusal, writeTree } from "./helpers/render-fixture.ts";
import { tempDir } from "./helpers/tools.ts";

const configMap = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}}\n`;

describe("render: plain manifests", () => {
  it("reads every manifest under the path, multi-document and JSON files and Lists, with file and line", async (t) => {
    const root = checkout(t, {
      "envs/prod/a.yaml": `# the first\n${configMap("a1")}---\n${configMap("a2")}`,
      "envs/prod/sub/b.json": JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: [{ apiVersion: "v1", kind: "Service", metadata: { name: "b" } }],
      }),
      "envs/prod/notes.txt": "not a manifest",
      "envs/prod/.hidden/c.yaml": configMap("hidden"),
      "envs/staging/s.yaml": configMap("staging"),
    });
    const objects = await renderDirectory(root, "envs/prod");
    assert.deepEqual(
      objects.map((s) => [s.file, s.line, s.object.kind, s.object.metadata?.name]),
      [
        ["envs/prod/a.yaml", 2, "ConfigMap", "a1"],
        ["envs/prod/a.yaml", 6, "ConfigMap", "a2"],
        ["envs/prod/sub/b.json", 1, "Service", "b"],
      ],
    );
  });

  it("renders the whole tree for the path '.'", async (t) => {
    const root = checkout(t, { "x.yaml": configMap("x"), "d/y.yaml": configMap("y") });
    assert.deepEqual(
      (await renderDirectory(root, ".")).map((s) => s.file),
      ["d/y.yaml", "x.yaml"],
    );
  });

  it("names the file and line of invalid YAML relative to the root", async (t) => {
    const root = checkout(t, { "envs/prod/bad.yaml": "apiVersion: v1\nkind: [\n" });
    const e = await renderRefusal(renderDirectory(root, "envs/prod"));
    assert.match(e.message, /^envs\/prod\/bad\.yaml:3:1: invalid YAML/);
  });

  it("refuses a path that leaves the root, an absolute path, and a missing folder", async (t) => {
    const parent = tempDir(t, "vigil-render-");
    writeTree(parent, { "outside/o.yaml": configMap("o"), "checkout/envs/prod/a.yaml": configMap("a") });
    const root = join(parent, "checkout");
    assert.match((await renderRefusal(renderDirectory(root, "../outside"))).message, /^\.\.\/outside: leaves the revision's root/);
    assert.match(
      (await renderRefusal(renderDirectory(root, join(parent, "outside")))).message,
      /must be relative to the repository's root/,
    );
    assert.match((await renderRefusal(renderDirectory(root, "envs/qa"))).message, /^envs\/qa: no such folder in the revision/);
  });

  it("refuses a symbolic link out of the root, to a file or as the environment's folder", async (t) => {
    const parent = tempDir(t, "vigil-render-");
    writeTree(parent, {
      "secret.yaml": configMap("not-signed"),
      "outside/o.yaml": configMap("o"),
      "checkout/envs/prod/a.yaml": configMap("a"),
    });
    const root = join(parent, "checkout");
    symlinkSync(join(parent, "secret.yaml"), join(root, "envs/prod/link.yaml"));
    const e = await renderRefusal(renderDirectory(root, "envs/prod"));
    assert.match(e.message, /^envs\/prod\/link\.yaml: a symbolic link out of the revision/);
    symlinkSync(join(parent, "outside"), join(root, "envs/linked"));
    assert.match((await renderRefusal(renderDirectory(root, "envs/linked"))).message, /^envs\/linked: leaves the revision's root/);
  });

  it("follows a symbolic link that stays inside the root", async (t) => {
    const root = checkout(t, { "shared/s.yaml": configMap("shared"), "envs/prod/a.yaml": configMap("a") });
    symlinkSync("../../shared/s.yaml", join(root, "envs/prod/s.yaml"));
    assert.deepEqual(
      (await renderDirectory(root, "envs/prod")).map((s) => [s.file, s.object.metadata?.name]),
      [
        ["envs/prod/a.yaml", "a"],
        ["envs/prod/s.yaml", "shared"],
      ],
    );
  });

  it("refuses a kustomization below a plain folder instead of reading it as a manifest", async (t) => {
    const root = checkout(t, {
      "envs/prod/a.yaml": configMap("a"),
      "envs/prod/app/kustomization.yaml": "resources: [b.yaml]\n",
      "envs/prod/app/b.yaml": configMap("b"),
    });
    const e = await renderRefusal(renderDirectory(root, "envs/prod"));
    assert.match(e.message, /^envs\/prod\/app\/kustomization\.yaml: a kustomization below envs\/prod, which has none of its own/);
  });
});
