// The in-process object store against git's cat-file over a large history: 100,000 commits written by
// git fast-import (its own pack, trees and blobs deltified against their previous versions, chains as
// deep as fast-import's default depth of 50). Every object is compared. A slow test (minutes): run it
// on its own.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { compareEveryObject } from "./helpers/object-compare.ts";
import { requireTools, run, tempDir } from "./helpers/tools.ts";

const COMMITS = 100_000;

/** A fast-import stream: each commit edits one of 1,000 files in 20 directories; every 1,000th merges a side commit. */
function history(): Buffer {
  const parts: string[] = [];
  const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`;
  for (let i = 1; i <= COMMITS; i++) {
    const time = 1_700_000_000 + i * 60;
    const merge = i % 1000 === 0 && i > 1000;
    if (merge) {
      parts.push(
        `commit refs/heads/side\nmark :${COMMITS + i}\ncommitter Side <side@example.com> ${time} +0000\n${data(`side ${i}`)}from :${i - 1}\n`,
      );
      parts.push(`M 100644 inline side/${i}.yaml\n${data(`side: ${i}\n`)}\n`);
    }
    parts.push(`commit refs/heads/main\nmark :${i}\ncommitter Bench <bench@example.com> ${time} +0000\n${data(`OPS-${i}: edit`)}`);
    if (i > 1) parts.push(`from :${i - 1}\n`);
    if (merge) parts.push(`merge :${COMMITS + i}\n`);
    const file = i % 1000;
    parts.push(
      `M 100644 inline dir-${file % 20}/app-${file}.yaml\n${data(`replicas: ${i}\nimage: registry.example.com/app-${file}:${i}\n`)}\n`,
    );
  }
  return Buffer.from(parts.join(""));
}

test(`a generated ${COMMITS.toLocaleString("en")}-commit history: every object of fast-import's pack reads as git reads it`, async (t) => {
  if (!requireTools(t, ["git"])) return;
  const dir = tempDir(t);
  run("git", ["init", "-q", "--bare", dir]);
  const imported = spawnSync("git", ["--git-dir", dir, "fast-import", "--quiet"], { input: history(), maxBuffer: 1 << 26 });
  assert.equal(imported.status, 0, imported.stderr?.toString());
  const merges = Math.floor(COMMITS / 1000) - 1;
  assert.equal(Number(run("git", ["--git-dir", dir, "rev-list", "--count", "--first-parent", "main"]).trim()), COMMITS);
  assert.equal(Number(run("git", ["--git-dir", dir, "rev-list", "--count", "main"]).trim()), COMMITS + merges);
  const objects = await compareEveryObject(dir);
  assert.ok(objects > 3 * COMMITS, `${objects} objects`);
});
