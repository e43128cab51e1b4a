// Render at a commit, as the agent renders (renderRevision): a plain folder read straight from git's
// objects gives exactly what renderDirectory gives on an export of the same commit (objects, files,
// lines, order), with the same refusals; a kustomization at the path is built from an export.
import { strict as assert } from "node:assert";
import { rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { exportTree } from "../src/git/export-tree.ts";
import { openRepo } from "../src/git/repo.ts";
import { renderDirectory, renderRevision } from "../src/render/index.ts";
import { TestRepo } from "./helpers/git-fixture.ts";
import { renderRefusal } from "./helpers/render-fixture.ts";
import { requireTools, tempDir } from "./helpers/tools.ts";

const configMap = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}}\n`;

/** A repository with one commit of `files`, opened as the agent opens it. */
async function committed(t: TestContext, files: Record<string, string>, links: Record<string, string> = {}) {
  const repo = new TestRepo(join(tempDir(t, "vigil-render-rev-"), "config"));
  for (const [path, target] of Object.entries(links)) {
    repo.commit({ [path]: "placeholder" }, null);
    const full = join(repo.dir, path);
    rmSync(full);
    symlinkSync(target, full);
  }
  const commit = repo.commit(files, null);
  const opened = await openRepo(repo.dir);
  t.after(() => opened.close());
  return { repo: opened, commit };
}

/** renderDirectory on an export of the commit: the reference. */
async function fromExport(t: TestContext, gitDir: string, commit: string, path: string) {
  const tree = await exportTree(gitDir, commit);
  t.after(() => tree.remove());
  return renderDirectory(tree.dir, path);
}

describe("render at a commit, from git's objects", () => {
  it("gives what renderDirectory gives on an export: objects, files, lines and order", async (t) => {
    const files = {
      "envs/prod/b.yaml": `# first\n${configMap("b1")}---\n${configMap("b2")}`,
      "envs/prod/a.yml": configMap("a"),
      "envs/prod/B-upper.yaml": configMap("upper"),
      "envs/prod/sub/c.json": JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: [{ apiVersion: "v1", kind: "Service", metadata: { name: "c" } }],
      }),
      "envs/prod/sub-dir/d.yaml": configMap("d"),
      "envs/prod/sub/z/e.yaml": configMap("e"),
      "envs/prod/10.yaml": configMap("ten"),
      "envs/prod/9.yaml": configMap("nine"),
      "envs/prod/notes.txt": "not a manifest",
      "envs/prod/.hidden/h.yaml": configMap("hidden"),
      "envs/prod/sub/.h.yaml": configMap("hidden-file"),
      "envs/staging/s.yaml": configMap("staging"),
      ".vigil/trust.yaml": "not: a manifest\n",
      "top.yaml": configMap("top"),
    };
    const { repo, commit } = await committed(t, files);
    for (const path of ["envs/prod", "envs/prod/", "./envs/prod", "envs/prod/sub", "."]) {
      const rendered = await renderRevision(repo, commit, path);
      assert.equal(rendered.tree, undefined, "nothing written to disk");
      const expected = await fromExport(t, repo.gitDir, commit, path);
      assert.ok(expected.length > 0);
      assert.deepEqual(rendered.objects, expected, `path ${path}`);
    }
  });

  it("refuses what renderDirectory refuses: a kustomization below a plain folder, a missing folder, a file, a path out of the tree; and, as an export does, a symbolic link anywhere", async (t) => {
    const { repo, commit } = await committed(t, {
      "envs/prod/a.yaml": configMap("a"),
      "envs/prod/app/kustomization.yaml": "resources: []\n",
      "envs/file.yaml": configMap("f"),
    });
    const below = await renderRefusal(renderRevision(repo, commit, "envs/prod"));
    assert.equal(below.message, (await renderRefusal(fromExport(t, repo.gitDir, commit, "envs/prod"))).message);
    assert.match(below.message, /^envs\/prod\/app\/kustomization\.yaml: a kustomization below envs\/prod/);
    assert.match((await renderRefusal(renderRevision(repo, commit, "envs/qa"))).message, /^envs\/qa: no such folder in the revision/);
    assert.match((await renderRefusal(renderRevision(repo, commit, "envs/file.yaml"))).message, /^envs\/file\.yaml: not a folder/);
    assert.match((await renderRefusal(renderRevision(repo, commit, "../outside"))).message, /^\.\.\/outside: leaves the revision's root/);
    assert.match((await renderRefusal(renderRevision(repo, commit, "/envs/prod"))).message, /must be relative to the repository's root/);

    const linked = await committed(t, { "envs/prod/a.yaml": configMap("a") }, { "docs/link.yaml": "/etc/passwd" });
    assert.match(
      (await renderRefusal(renderRevision(linked.repo, linked.commit, "envs/prod"))).message,
      /docs\/link\.yaml is a symbolic link; links are refused/,
    );
  });

  it("builds a kustomization at the path from an export of the commit, which the caller removes", async (t) => {
    if (!requireTools(t, ["kustomize"])) return;
    const { repo, commit } = await committed(t, {
      "base/cm.yaml": configMap("web"),
      "base/kustomization.yaml": "resources: [cm.yaml]\n",
      "envs/prod/kustomization.yaml": "resources: [../../base]\nnamePrefix: prod-\n",
    });
    const rendered = await renderRevision(repo, commit, "envs/prod");
    assert.ok(rendered.tree, "an export, for kustomize");
    t.after(() => rendered.tree!.remove());
    assert.deepEqual(
      rendered.objects.map((s) => s.object.metadata?.name),
      ["prod-web"],
    );
  });

  it(".gitattributes never changes what is rendered: export-subst, export-ignore and filters leave the blobs as they are (issue 15 §1)", async (t) => {
    if (!requireTools(t, ["kustomize"])) return;
    const withData = (name: string, value: string) => `${configMap(name)}data: {value: "${value}"}\n`;
    const { repo, commit } = await committed(t, {
      // As git archive reads them, these would put the commit id into a value, drop a resource and run a filter.
      ".gitattributes": "*.yaml export-subst\nbase/dropped.yaml export-ignore\n*.yaml filter=evil ident\n",
      "base/cm.yaml": withData("web", "$Format:%H$ $Id$"),
      "base/dropped.yaml": withData("kept", "here"),
      "base/kustomization.yaml": "resources: [cm.yaml, dropped.yaml]\n",
      "envs/prod/kustomization.yaml": "resources: [../../base]\n",
    });
    const rendered = await renderRevision(repo, commit, "envs/prod");
    t.after(() => rendered.tree?.remove());
    const byName = Object.fromEntries(
      rendered.objects.map((s) => [s.object.metadata?.name, (s.object as { data?: { value?: string } }).data?.value]),
    );
    assert.deepEqual(byName, { web: "$Format:%H$ $Id$", kept: "here" });
  });
});
