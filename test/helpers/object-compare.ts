// Differential reading of git objects: every object of a repository read by Vigil's in-process store and
// by git's own `cat-file --batch`, compared byte for byte (or refusal for refusal).
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { CatFile, type GitObject } from "../../src/git/cat-file.ts";
import { ObjectStore } from "../../src/git/object-store.ts";

type Outcome = GitObject | null | { refused: string };

const settle = (p: Promise<GitObject | null>): Promise<Outcome> => p.catch((e: Error) => ({ refused: e.message }));

/** Every object id the repository stores (loose and packed), in pack order (as a walk meets them, so delta bases are shared). */
export function allObjectIds(gitDir: string): string[] {
  const r = spawnSync("git", ["--git-dir", gitDir, "cat-file", "--batch-all-objects", "--unordered", "--batch-check=%(objectname)"], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`git cat-file --batch-all-objects: ${r.stderr}`);
  return r.stdout.split("\n").filter(Boolean);
}

/** Compares every object; returns how many were compared. */
export async function compareEveryObject(gitDir: string): Promise<number> {
  const ids = allObjectIds(gitDir);
  const git = new CatFile(gitDir);
  const store = new ObjectStore(gitDir);
  try {
    for (let i = 0; i < ids.length; i += 2000) {
      const chunk = ids.slice(i, i + 2000);
      const [ours, theirs] = await Promise.all([
        Promise.all(chunk.map((id) => settle(store.read(id)))),
        Promise.all(chunk.map((id) => settle(git.read(id)))),
      ]);
      chunk.forEach((id, k) => {
        const a = ours[k]!;
        const b = theirs[k]!;
        if (a && b && "data" in a && "data" in b) {
          assert.equal(a.type, b.type, `type of ${id}`);
          assert.ok(a.data.equals(b.data), `bytes of ${a.type} ${id} differ from git's (${a.data.length} and ${b.data.length} bytes)`);
        } else {
          assert.deepEqual(a, b, `object ${id}`);
        }
      });
    }
  } finally {
    git.close();
    store.close();
  }
  return ids.length;
}
