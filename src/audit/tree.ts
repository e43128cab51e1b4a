// The shape of an append-only Merkle tree (RFC 9162 §2.1.1), with no hashes stored here: which full
// subtrees make up a range, which ranges a proof is made of, and the right edge of the tree (its
// compact range), which is all a writer needs to keep in memory to append and to compute the root.
// Sizes and indices are plain numbers: exact up to 2^53 leaves.
import { EMPTY_ROOT, nodeHash } from "./hash.ts";

/** A full subtree: the 2^level leaves from index·2^level. Level 0 is a leaf. Stores keep one hash per node. */
export interface TreeNode {
  level: number;
  index: number;
}

/** A range of leaves [start, end) whose MTH a proof carries. */
export type LeafRange = readonly [start: number, end: number];

/** The largest power of two smaller than n (n ≥ 2): where RFC 9162 splits a tree of n leaves. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The full subtrees of a range, left to right. Every range a proof or root needs starts at a multiple
 * of its left part's size, so taking the largest aligned power of two each time is exactly RFC 9162's
 * split (the left part is full, the right part is split again).
 */
export function fullSubtrees([start, end]: LeafRange): TreeNode[] {
  const nodes: TreeNode[] = [];
  for (let at = start; at < end; ) {
    let width = 1;
    while (at % (width * 2) === 0 && at + width * 2 <= end) width *= 2;
    nodes.push({ level: Math.log2(width), index: at / width });
    at += width;
  }
  return nodes;
}

/** The MTH of a range from its full subtrees' hashes (left to right): right parts fold in first. */
export function foldRange(hashes: readonly Buffer[]): Buffer {
  if (hashes.length === 0) return EMPTY_ROOT;
  let h = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) h = nodeHash(hashes[i]!, h);
  return h;
}

/** RFC 9162 §2.1.3.1 PATH(m, D[n]): the ranges whose MTHs prove leaf m in a tree of n leaves, leaf upwards. */
export function inclusionRanges(index: number, size: number): LeafRange[] {
  const path = (m: number, start: number, end: number): LeafRange[] => {
    if (end - start === 1) return [];
    const k = splitPoint(end - start);
    return m < k ? [...path(m, start, start + k), [start + k, end]] : [...path(m - k, start + k, end), [start, start + k]];
  };
  return path(index, 0, size);
}

/** RFC 9162 §2.1.4.1 PROOF(m, D[n]): the ranges proving a tree of m leaves is a prefix of one of n. */
export function consistencyRanges(oldSize: number, size: number): LeafRange[] {
  const subproof = (m: number, start: number, end: number, whole: boolean): LeafRange[] => {
    if (m === end - start) return whole ? [] : [[start, end]];
    const k = splitPoint(end - start);
    return m <= k
      ? [...subproof(m, start, start + k, whole), [start + k, end]]
      : [...subproof(m - k, start + k, end, false), [start, start + k]];
  };
  return oldSize === 0 || oldSize === size ? [] : subproof(oldSize, 0, size, true);
}

/** The full subtrees on the right edge of a tree of `size` leaves, largest first: its compact range. */
export function frontierNodes(size: number): TreeNode[] {
  return fullSubtrees([0, size]);
}

/**
 * The right edge of the tree, kept by a writer: appending a leaf completes the nodes it closes (each
 * reported, so a store can keep it) and the root is the frontier folded. Memory: one hash per level.
 */
export class Frontier {
  #size: number;
  /** Hash of the frontier's full subtree at each level, where the size has that bit set. */
  readonly #byLevel: (Buffer | undefined)[] = [];

  /** `hashes`: the hashes of frontierNodes(size), in that order. */
  constructor(size: number, hashes: readonly Buffer[]) {
    const nodes = frontierNodes(size);
    if (nodes.length !== hashes.length)
      throw new Error(`a tree of ${size} leaves has ${nodes.length} frontier nodes, not ${hashes.length}`);
    nodes.forEach((n, i) => (this.#byLevel[n.level] = hashes[i]));
    this.#size = size;
  }

  get size(): number {
    return this.#size;
  }

  /** Adds a leaf; `completed` receives every node it completes, the leaf itself first. */
  append(leaf: Buffer, completed: (node: TreeNode, hash: Buffer) => void): void {
    let hash = leaf;
    let level = 0;
    let index = this.#size;
    completed({ level, index }, hash);
    while (index % 2 === 1) {
      hash = nodeHash(this.#byLevel[level]!, hash);
      this.#byLevel[level] = undefined;
      level++;
      index = (index - 1) / 2;
      completed({ level, index }, hash);
    }
    this.#byLevel[level] = hash;
    this.#size++;
  }

  root(): Buffer {
    return foldRange(frontierNodes(this.#size).map((n) => this.#byLevel[n.level]!));
  }

  /** The frontier's hashes, in frontierNodes order. */
  hashes(): Buffer[] {
    return frontierNodes(this.#size).map((n) => this.#byLevel[n.level]!);
  }
}
