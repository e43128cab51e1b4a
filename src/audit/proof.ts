// Inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4): made from a store's full-subtree hashes,
// and verified with the RFC's own algorithms (§2.1.3.2, §2.1.4.2), which need nothing but the proof,
// the sizes and the roots. A proof that does not verify says why, for a person to act on.
import { ExitCode, VigilError } from "../core/errors.ts";
import { EMPTY_ROOT, HASH_SIZE, nodeHash } from "./hash.ts";
import { consistencyRanges, foldRange, fullSubtrees, inclusionRanges, type LeafRange, type TreeNode } from "./tree.ts";

/** A proof or a log that does not verify: tampering or corruption. Exit 1, like any failed verification. */
export class IntegrityError extends VigilError {
  constructor(message: string) {
    super(message, ExitCode.blocked);
  }
}

/** Reads full-subtree hashes, in the order asked; every node asked for is complete in the tree. */
export type NodeReader = (nodes: readonly TreeNode[]) => Promise<Buffer[]>;

/** The MTH of each range, from the store's hashes, read in one request. */
export async function rangeHashes(read: NodeReader, ranges: readonly LeafRange[]): Promise<Buffer[]> {
  const parts = ranges.map((r) => fullSubtrees(r));
  const hashes = await read(parts.flat());
  let at = 0;
  return parts.map((p) => foldRange(hashes.slice(at, (at += p.length))));
}

export async function treeRoot(read: NodeReader, size: number): Promise<Buffer> {
  return size === 0 ? EMPTY_ROOT : (await rangeHashes(read, [[0, size]]))[0]!;
}

export async function inclusionProof(read: NodeReader, index: number, size: number): Promise<Buffer[]> {
  if (!(Number.isSafeInteger(index) && index >= 0 && index < size))
    throw new RangeError(`entry ${index} is not in a tree of ${size} entries`);
  return rangeHashes(read, inclusionRanges(index, size));
}

export async function consistencyProof(read: NodeReader, oldSize: number, size: number): Promise<Buffer[]> {
  if (!(Number.isSafeInteger(oldSize) && oldSize >= 0 && oldSize <= size))
    throw new RangeError(`a tree of ${oldSize} entries is not a prefix of one of ${size}`);
  return rangeHashes(read, consistencyRanges(oldSize, size));
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const lsb = (n: number) => n % 2 === 1;
const half = (n: number) => Math.floor(n / 2);

function checkHashes(what: string, hashes: readonly Uint8Array[]): void {
  hashes.forEach((h, i) => {
    if (h.length !== HASH_SIZE) throw new IntegrityError(`${what}: hash ${i} has ${h.length} bytes, not ${HASH_SIZE}`);
  });
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or why it leads nowhere. */
export function rootFromInclusionProof(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[]): Buffer {
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size)) {
    throw new IntegrityError(`inclusion proof: entry ${index} is not in a tree of ${size} entries`);
  }
  checkHashes("inclusion proof", [leaf, ...proof]);
  const expected = inclusionRanges(index, size).length;
  if (proof.length !== expected)
    throw new IntegrityError(`inclusion proof: ${proof.length} hashes, but entry ${index} of ${size} needs ${expected}`);
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) throw new IntegrityError("inclusion proof: longer than the tree is deep");
    if (lsb(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!lsb(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else r = nodeHash(r, p);
    [fn, sn] = [half(fn), half(sn)];
  }
  if (sn !== 0) throw new IntegrityError("inclusion proof: shorter than the tree is deep");
  return r;
}

export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): void {
  const computed = rootFromInclusionProof(index, size, leaf, proof);
  if (!computed.equals(root))
    throw new IntegrityError(
      `inclusion proof: entry ${index} leads to root ${hex(computed)}, not the tree's root ${hex(root)} at size ${size}`,
    );
}

/** RFC 9162 §2.1.4.2, with the cases it leaves to the caller: equal sizes, and the empty tree. */
export function verifyConsistency(
  oldSize: number,
  size: number,
  oldRoot: Uint8Array,
  root: Uint8Array,
  proof: readonly Uint8Array[],
): void {
  const fail = (why: string): never => {
    throw new IntegrityError(`consistency proof from size ${oldSize} to ${size}: ${why}`);
  };
  if (!(Number.isSafeInteger(oldSize) && Number.isSafeInteger(size) && oldSize >= 0 && oldSize <= size))
    fail("the older tree is larger: the log would have shrunk");
  checkHashes(`consistency proof from size ${oldSize} to ${size}`, [oldRoot, root, ...proof]);
  if (oldSize === size) {
    if (proof.length > 0) fail("equal sizes need an empty proof");
    if (!Buffer.from(oldRoot).equals(root)) fail(`the roots differ (${hex(oldRoot)} and ${hex(root)}): the log was rewritten`);
    return;
  }
  if (oldSize === 0) {
    if (proof.length > 0) fail("a proof from the empty tree must be empty");
    if (!EMPTY_ROOT.equals(oldRoot)) fail("the empty tree's root is not SHA-256 of nothing");
    return;
  }
  const expected = consistencyRanges(oldSize, size).length;
  if (proof.length !== expected) fail(`${proof.length} hashes, but these sizes need ${expected}`);
  // Step 2: when the old tree is a full subtree of the new one, its root is the proof's first hash.
  const path = Number.isInteger(Math.log2(oldSize)) ? [oldRoot, ...proof] : [...proof];
  let fn = oldSize - 1;
  let sn = size - 1;
  while (lsb(fn)) [fn, sn] = [half(fn), half(sn)];
  let fr: Buffer = Buffer.from(path[0]!);
  let sr: Buffer = Buffer.from(path[0]!);
  for (const c of path.slice(1)) {
    if (sn === 0) fail("longer than the tree is deep");
    if (lsb(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!lsb(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else sr = nodeHash(sr, c);
    [fn, sn] = [half(fn), half(sn)];
  }
  if (sn !== 0) fail("shorter than the tree is deep");
  if (!fr.equals(oldRoot)) fail(`it leads to old root ${hex(fr)}, not ${hex(oldRoot)}: the log was rewritten before size ${oldSize}`);
  if (!sr.equals(root)) fail(`it leads to new root ${hex(sr)}, not ${hex(root)}`);
}
