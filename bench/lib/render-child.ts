// Renders one environment folder of a commit as the agent does (renderRevision: git's objects → objects)
// and prints how many objects and how long it took; run under report-rss.ts for its peak memory.
// With --whole, the way it was read before issue 15 §4, for comparison in the same run: every blob of
// the folder read at once, then each file parsed whole.
//   node --import ./bench/lib/report-rss.ts bench/lib/render-child.ts REPO COMMIT PATH [--whole]
import { listTree } from "../../src/git/export-tree.ts";
import { openRepo } from "../../src/git/repo.ts";
import { parseManifests } from "../../src/manifest/manifests.ts";
import { renderRevision } from "../../src/render/index.ts";

const [repoDir, commit, path, mode] = process.argv.slice(2) as [string, string, string, string | undefined];
const repo = await openRepo(repoDir);
const started = performance.now();
let count: number;
if (mode === "--whole") {
  const files = (await listTree(repo.gitDir, commit))
    .filter((f) => f.path.startsWith(`${path}/`))
    .sort((a, b) => a.path.localeCompare(b.path));
  const blobs = await Promise.all(files.map(async (f) => (await repo.objects.read(f.id))!.data));
  count = files.flatMap((f, i) => parseManifests(blobs[i]!.toString("utf8"), f.path)).length;
} else {
  count = (await renderRevision(repo, commit, path)).objects.length;
}
process.stdout.write(`${JSON.stringify({ objects: count, seconds: (performance.now() - started) / 1000 })}\n`);
repo.close();
