// Renders one environment folder of a commit as the agent does (renderRevision: git's objects → objects)
// and prints how many objects and how long it took; run under report-rss.ts for its peak memory.
//   node --import ./bench/lib/report-rss.ts bench/lib/render-child.ts REPO COMMIT PATH
import { openRepo } from "../../src/git/repo.ts";
import { renderRevision } from "../../src/render/index.ts";

const [repoDir, commit, path] = process.argv.slice(2) as [string, string, string];
const repo = await openRepo(repoDir);
const started = performance.now();
const { objects } = await renderRevision(repo, commit, path);
process.stdout.write(`${JSON.stringify({ objects: objects.length, seconds: (performance.now() - started) / 1000 })}\n`);
repo.close();
