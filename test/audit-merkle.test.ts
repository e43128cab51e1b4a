// The Merkle tree against published RFC 6962/9162 test vectors, and proofs made from stored hashes
// against the RFC's verification algorithms for every size and index up to 64.
//
// Vectors: the eight leaf inputs, the roots of the trees of their first 1…8 leaves, and the inclusion and
// consistency proofs listed in transparency-dev/merkle's proof/verify_test.go (themselves from the
// Certificate Transparency reference implementation). Only the values are taken; the tests are ours.
import assert from "node:assert/strict";
import { test } from "node:test";
import { EMPTY_ROOT, leafHash } from "../src/audit/hash.ts";
import {
  IntegrityError,
  consistencyProof,
  inclusionProof,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
  type NodeReader,
} from "../src/audit/proof.ts";
import { Frontier, type TreeNode } from "../src/audit/tree.ts";

const h = (hex: string) => Buffer.from(hex, "hex");
const leaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map(h);
const roots = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
].map(h);
/** [index, size, proof] */
const inclusionVectors: [number, number, string[]][] = [
  [
    0,
    8,
    [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  ],
  [
    5,
    8,
    [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  ],
  [2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]],
  [
    1,
    5,
    [
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  ],
  [0, 1, []],
];
/** [old size, size, proof] */
const consistencyVectors: [number, number, string[]][] = [
  [1, 1, []],
  [
    1,
    8,
    [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  ],
  [
    6,
    8,
    [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  ],
  [
    2,
    5,
    [
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  ],
  [
    6,
    7,
    [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  ],
];

/** Every completed node of a tree built leaf by leaf, kept in memory as a store would keep it. */
function memoryTree(data: readonly Buffer[]): { read: NodeReader; frontier: Frontier } {
  const nodes = new Map<string, Buffer>();
  const frontier = new Frontier(0, []);
  for (const d of data) frontier.append(leafHash(d), (n, hash) => nodes.set(`${n.level}/${n.index}`, hash));
  const read: NodeReader = async (wanted: readonly TreeNode[]) =>
    wanted.map((n) => nodes.get(`${n.level}/${n.index}`) ?? assert.fail(`node ${n.level}/${n.index} is not complete`));
  return { read, frontier };
}

test("roots of the published vectors, from the frontier and from stored nodes", async () => {
  assert.equal(EMPTY_ROOT.toString("hex"), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const { read } = memoryTree(leaves);
  for (let size = 1; size <= 8; size++) {
    assert.deepEqual(memoryTree(leaves.slice(0, size)).frontier.root(), roots[size - 1], `frontier root at ${size}`);
    assert.deepEqual(await treeRoot(read, size), roots[size - 1], `stored root at ${size}`);
  }
});

test("inclusion proofs: made as published, verified, and every corruption refused", async () => {
  const { read } = memoryTree(leaves);
  for (const [index, size, hexes] of inclusionVectors) {
    const proof = hexes.map(h);
    const leaf = leafHash(leaves[index]!);
    const root = roots[size - 1]!;
    assert.deepEqual(await inclusionProof(read, index, size), proof, `proof for ${index} in ${size}`);
    verifyInclusion(index, size, leaf, proof, root);
    const wrong: [string, () => void][] = [
      ["index - 1", () => verifyInclusion(index - 1, size, leaf, proof, root)],
      ["index + 1", () => verifyInclusion(index + 1, size, leaf, proof, root)],
      ["index ^ 2", () => verifyInclusion(index ^ 2, size, leaf, proof, root)],
      ["size * 2", () => verifyInclusion(index, size * 2, leaf, proof, root)],
      ["size / 2", () => verifyInclusion(index, Math.floor(size / 2), leaf, proof, root)],
      ["wrong leaf", () => verifyInclusion(index, size, leafHash(Buffer.from("WrongLeaf")), proof, root)],
      ["empty root", () => verifyInclusion(index, size, leaf, proof, EMPTY_ROOT)],
      ["short leaf", () => verifyInclusion(index, size, Buffer.from("WrongLeaf"), proof, root)],
      ["trailing root", () => verifyInclusion(index, size, leaf, [...proof, root], root)],
      ["preceding root", () => verifyInclusion(index, size, leaf, [root, ...proof], root)],
      ["empty hash appended", () => verifyInclusion(index, size, leaf, [...proof, Buffer.alloc(0)], root)],
      ...proof.map(
        (_, i) =>
          [
            `bit flipped in proof[${i}]`,
            () =>
              verifyInclusion(
                index,
                size,
                leaf,
                proof.map((p, j) => (j === i ? flip(p) : p)),
                root,
              ),
          ] as [string, () => void],
      ),
      ...(proof.length > 0
        ? [["removed hash", () => verifyInclusion(index, size, leaf, proof.slice(0, -1), root)] as [string, () => void]]
        : []),
    ];
    for (const [what, fn] of wrong) assert.throws(fn, IntegrityError, `${what} (entry ${index} of ${size}) must be refused`);
  }
});

test("consistency proofs: made as published, verified, and every corruption refused", async () => {
  const { read } = memoryTree(leaves);
  for (const [oldSize, size, hexes] of consistencyVectors) {
    const proof = hexes.map(h);
    const [oldRoot, root] = [roots[oldSize - 1]!, roots[size - 1]!];
    assert.deepEqual(await consistencyProof(read, oldSize, size), proof, `proof from ${oldSize} to ${size}`);
    verifyConsistency(oldSize, size, oldRoot, root, proof);
    if (proof.length === 0) continue;
    const wrong: [string, () => void][] = [
      ["old size - 1", () => verifyConsistency(oldSize - 1, size, oldRoot, root, proof)],
      ["old size + 1", () => verifyConsistency(oldSize + 1, size, oldRoot, root, proof)],
      ["size * 2", () => verifyConsistency(oldSize, size * 2, oldRoot, root, proof)],
      ["size / 2", () => verifyConsistency(oldSize, Math.floor(size / 2), oldRoot, root, proof)],
      ["swapped roots", () => verifyConsistency(oldSize, size, root, oldRoot, proof)],
      ["empty proof", () => verifyConsistency(oldSize, size, oldRoot, root, [])],
      ["trailing root", () => verifyConsistency(oldSize, size, oldRoot, root, [...proof, root])],
      ["preceding proof[0]", () => verifyConsistency(oldSize, size, oldRoot, root, [proof[0]!, ...proof])],
      ["truncated", () => verifyConsistency(oldSize, size, oldRoot, root, proof.slice(0, -1))],
      ...proof.map(
        (_, i) =>
          [
            `bit flipped in proof[${i}]`,
            () =>
              verifyConsistency(
                oldSize,
                size,
                oldRoot,
                root,
                proof.map((p, j) => (j === i ? flip(p) : p)),
              ),
          ] as [string, () => void],
      ),
    ];
    for (const [what, fn] of wrong) assert.throws(fn, IntegrityError, `${what} (${oldSize} to ${size}) must be refused`);
  }
  assert.throws(() => verifyConsistency(2, 1, roots[1]!, roots[0]!, []), /would have shrunk/);
  assert.throws(() => verifyConsistency(3, 3, roots[2]!, roots[1]!, []), /rewritten/);
  verifyConsistency(0, 5, EMPTY_ROOT, roots[4]!, []);
});

test("every index and size up to 64: proofs from stored nodes verify against the frontier's roots", async () => {
  const data = Array.from({ length: 64 }, (_, i) => Buffer.from(`entry ${i}`));
  const { read } = memoryTree(data);
  const rootAt = (n: number) => memoryTree(data.slice(0, n)).frontier.root();
  const rootsBySize = [EMPTY_ROOT, ...Array.from({ length: 64 }, (_, i) => rootAt(i + 1))];
  for (let size = 1; size <= 64; size++) {
    assert.deepEqual(await treeRoot(read, size), rootsBySize[size]);
    for (let index = 0; index < size; index++)
      verifyInclusion(index, size, leafHash(data[index]!), await inclusionProof(read, index, size), rootsBySize[size]!);
    for (let oldSize = 0; oldSize <= size; oldSize++)
      verifyConsistency(oldSize, size, rootsBySize[oldSize]!, rootsBySize[size]!, await consistencyProof(read, oldSize, size));
  }
});

function flip(b: Buffer): Buffer {
  const c = Buffer.from(b);
  c[0]! ^= 8;
  return c;
}
