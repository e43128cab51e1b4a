// A tree indexed against one checked before (the same directory a commit earlier) must be judged exactly
// as a tree indexed alone: the same entries, or the same refusal naming the same entry. Only the entries
// the two trees share byte for byte at either end are spared their checks, and every rule that looks at
// a neighbour, or at a file of a directory's name anywhere before it, still applies to the new ones.
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { indexTree, ObjectFormatError, type IndexedTree } from "../src/git/objects.ts";
import { rawTreeBytes, type RawTreeEntry } from "./helpers/git-fixture.ts";

const TREE_ID = "ab".repeat(20);
const blobId = (n: number) => (n + 1).toString(16).padStart(40, "0");
const file = (name: string, n = name.length): RawTreeEntry => ({ mode: "100644", name, id: blobId(n) });
const dir = (name: string, n = name.length): RawTreeEntry => ({ mode: "40000", name, id: blobId(1000 + n) });

function indexed(entries: RawTreeEntry[]): IndexedTree {
  const buf = rawTreeBytes(entries);
  return { buf, ...indexTree(TREE_ID, buf) };
}

/** What indexing says, alone or against `known`: the index, or the refusal's message. */
function outcome(data: Buffer, known?: IndexedTree): { starts: number[]; nameEnds: number[] } | string {
  try {
    const index = indexTree(TREE_ID, data, known);
    return { starts: [...index.starts], nameEnds: [...index.nameEnds] };
  } catch (e) {
    assert.ok(e instanceof ObjectFormatError, String(e));
    return e.message;
  }
}

function sameAsAlone(known: IndexedTree, entries: RawTreeEntry[]): void {
  const data = rawTreeBytes(entries);
  assert.deepEqual(outcome(data, known), outcome(data), `indexing ${entries.map((e) => e.name).join(",")} against a known tree`);
}

const base = Array.from({ length: 40 }, (_, i) => file(`app-${String(i).padStart(2, "0")}.yaml`, i));

test("a tree that changes one entry of a known one is indexed as it is alone", () => {
  const known = indexed(base);
  for (const at of [0, 1, 17, 38, 39]) {
    const changed = base.map((e, i) => (i === at ? { ...e, id: blobId(500 + i) } : e));
    sameAsAlone(known, changed);
  }
  sameAsAlone(known, base);
  sameAsAlone(known, base.slice(1));
  sameAsAlone(known, base.slice(0, -1));
  sameAsAlone(known, [...base.slice(0, 10), file("app-10a.yaml"), ...base.slice(10)]);
  sameAsAlone(known, [...base.slice(0, 10), ...base.slice(12)]);
  sameAsAlone(known, []);
  sameAsAlone(indexed([]), base);
});

test("every refusal is the one the tree gets alone, naming the same entry", () => {
  const known = indexed(base);
  const refused = (entries: RawTreeEntry[], reason: RegExp) => {
    const alone = outcome(rawTreeBytes(entries));
    assert.equal(typeof alone, "string", "the tree is refused alone");
    assert.match(alone as string, reason);
    sameAsAlone(known, entries);
  };
  // The new entry is out of order with the unchanged entry after it (the first of the shared tail).
  refused([...base.slice(0, 20), file("app-99.yaml"), ...base.slice(20)], /out of git's tree order/);
  // …and with the unchanged entry before it.
  refused([...base.slice(0, 20), file("app-00.yaml", 7), ...base.slice(20)], /out of git's tree order/);
  // A duplicate of an unchanged neighbour.
  refused([...base.slice(0, 20), base[19]!, ...base.slice(20)], /duplicate/);
  // Bad names and modes in the changed entry.
  refused([...base.slice(0, 20), file(".git"), ...base.slice(20)], /\.git/);
  refused([...base.slice(0, 20), { mode: "100664", name: "app-19a.yaml", id: blobId(3) }, ...base.slice(20)], /mode/);
  refused([...base.slice(0, 20), { mode: "100644", name: "app-19a.yaml", id: "0".repeat(40) }, ...base.slice(20)], /null object id/);
});

test("an unchanged directory is refused when a new file before it has its name, though they are not neighbours", () => {
  // Git's order puts "x", "x.y", then "x/" ("/" sorts after "."): the file and the directory stand apart.
  const known = indexed([file("a"), file("x.y"), dir("x"), file("z")]);
  const entries = [file("a"), file("x"), file("x.y"), dir("x"), file("z")];
  const alone = outcome(rawTreeBytes(entries));
  assert.match(alone as string, /a directory with the same name as a file/);
  sameAsAlone(known, entries);
});

test("a shared tail that the entries before it do not lead to exactly is not taken", () => {
  // The new tree's one entry ends with the bytes of the known tree's last entry, inside its own name:
  // "100644 a100644 c\0<id of c>". Those bytes are no entry of the new tree.
  const known = indexed([file("b"), file("c")]);
  const sneaky = [{ mode: "100644", name: "a100644 c", id: file("c").id }];
  const data = rawTreeBytes(sneaky);
  assert.ok(data.subarray(data.length - rawTreeBytes([file("c")]).length).equals(rawTreeBytes([file("c")])));
  assert.deepEqual(outcome(data, known), outcome(data));
  assert.deepEqual(outcome(data, known), { starts: [0, data.length], nameEnds: [data.indexOf(0)] });
});

test("random edits of a known tree are judged as the trees alone are", () => {
  let seed = 25;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const names = ["a", "a.b", "a-b", "b", ".git", "x", "x.y", "x0", "z", "..", "", "g~1", "GIT~1"];
  const entry = (): RawTreeEntry => {
    const name = names[random(names.length)]! + (random(3) === 0 ? "" : String(random(50)));
    const kind = random(10);
    return kind === 0 ? dir(name, random(5)) : kind === 1 ? { mode: "100755", name, id: blobId(random(5)) } : file(name, random(5));
  };
  for (let round = 0; round < 400; round++) {
    const before = Array.from({ length: random(12) }, entry);
    const known = outcome(rawTreeBytes(before));
    if (typeof known === "string") continue; // only a checked tree is ever given as known
    const after = [...before];
    for (let edits = 1 + random(3); edits > 0; edits--) {
      const at = random(after.length + 1);
      const op = random(3);
      if (op === 0) after.splice(at, 0, entry());
      else if (op === 1) after.splice(at, 1);
      else after.splice(at, 1, entry());
    }
    const checked = indexed(before);
    sameAsAlone(checked, after);
    const data = rawTreeBytes(after);
    const result = outcome(data);
    if (typeof result === "string") continue;
    // What indexing says the trees share is what a diff would find comparing entry by entry.
    const shared = indexTree(TREE_ID, data, checked).shared;
    if (!shared) continue;
    const entryBytes = (buf: Buffer, s: ArrayLike<number>, i: number) => buf.subarray(s[i]!, s[i + 1]!);
    const mine = result.starts;
    const n = Math.min(before.length, after.length);
    let head = 0;
    while (head < n && entryBytes(checked.buf, checked.starts, head).equals(entryBytes(data, mine, head))) head++;
    let tail = 0;
    while (
      tail < n - head &&
      entryBytes(checked.buf, checked.starts, before.length - 1 - tail).equals(entryBytes(data, mine, after.length - 1 - tail))
    )
      tail++;
    assert.deepEqual(shared, { head, tail });
  }
});
