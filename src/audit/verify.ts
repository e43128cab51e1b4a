// Verifying a whole log, as an auditor does with nothing but the log and its verifier key: every
// checkpoint's signature; every entry's bytes against its hash (and, asked, as a valid record); the tree rebuilt
// from the entries, compared with every stored subtree hash and every checkpoint's root; and, given a
// checkpoint saved earlier, that the log still extends it. The first failure ends the walk and names
// the entry, hash or checkpoint; nothing after it can be trusted.
import { check, type Check, type CheckCode } from "../core/verdict.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { openCheckpoint } from "./checkpoint.ts";
import { leafHash } from "./hash.ts";
import type { AuditLog } from "./log.ts";
import { consistencyProof, IntegrityError, verifyConsistency } from "./proof.ts";
import { decodeRecord } from "./record.ts";
import type { StoredEntry } from "./store.ts";
import { Frontier, type TreeNode } from "./tree.ts";

const GATE = "audit";
const CHUNK = 4096;

export interface VerifyOptions {
  /** A checkpoint saved earlier (e.g. by a monitor): the log must still extend it. */
  saved?: { file: string; note: string };
  /**
   * Also decode every entry as a record, strictly (schema and canonical form). Tampering never needs
   * it — any changed byte fails its hash — but it finds a record the writer itself got wrong; it costs
   * several times the hashing.
   */
  records?: boolean;
  /** Called with the number of entries verified so far, for progress. */
  progress?: (entries: number) => void;
}

export async function verifyLog(log: AuditLog, options: VerifyOptions = {}): Promise<Check[]> {
  const checks: Check[] = [];
  try {
    const checkpoints = await signedCheckpoints(log, checks);
    const latest = checkpoints.at(-1)!;
    const saved = options.saved ? savedCheckpoint(log, options.saved, latest) : undefined;
    await verifyEntries(log, checkpoints, saved, options);
    checks.push(
      check({
        gate: GATE,
        rule: "entries",
        status: "pass",
        subject: log.store.location,
        message: `${latest.size} entries: each matches its hash${options.records ? " and is a valid record" : ""}; the tree rebuilt from them matches every stored hash and every checkpoint's root`,
        code: "log-verified",
      }),
    );
    checks.push(
      saved
        ? await consistency(log, saved, latest, options.saved!.file)
        : check({
            gate: GATE,
            rule: "consistency",
            status: "skip",
            subject: log.store.location,
            message:
              "no saved checkpoint given: a log rewritten whole and signed again with its own key would look the same; save the checkpoint now and pass it with --checkpoint next time",
            code: "no-checkpoint-given",
          }),
    );
    const stored = await log.store.storedEntries();
    if (stored > latest.size)
      checks.push(
        check({
          gate: GATE,
          rule: "uncommitted",
          status: "warn",
          subject: log.store.location,
          message: `${stored - latest.size} entries after the latest checkpoint: an append was interrupted (or is running); they were never acknowledged, and the writer discards them when it opens the log`,
          code: "uncommitted-entries",
        }),
      );
  } catch (e) {
    if (!(e instanceof IntegrityError)) throw e;
    checks.push(
      check({
        gate: GATE,
        rule: e instanceof Failure ? e.rule : "entries",
        status: "fail",
        subject: log.store.location,
        message: e.message,
        code: e instanceof Failure ? e.code : "entries-altered",
      }),
    );
  }
  return checks;
}

/** An IntegrityError that says which check it fails. */
class Failure extends IntegrityError {
  readonly rule: string;
  readonly code: CheckCode;
  constructor(rule: string, code: CheckCode, message: string) {
    super(message);
    this.rule = rule;
    this.code = code;
  }
}

function failure(rule: string, code: CheckCode, message: string): Failure {
  return new Failure(rule, code, message);
}

async function signedCheckpoints(log: AuditLog, checks: Check[]): Promise<Checkpoint[]> {
  const list: Checkpoint[] = [];
  for await (const note of log.store.checkpoints()) {
    const n = list.length;
    let cp: Checkpoint;
    try {
      cp = openCheckpoint(note, log.verifier);
    } catch (e) {
      if (!(e instanceof IntegrityError)) throw e;
      throw failure("checkpoints", "checkpoint-invalid", `checkpoint ${n} (after size ${list.at(-1)?.size ?? "none"}): ${e.message}`);
    }
    const previous = list.at(-1);
    if (previous && cp.size <= previous.size)
      throw failure(
        "checkpoints",
        "checkpoints-reordered",
        `checkpoint ${n} has size ${cp.size}, not more than the ${previous.size} before it: checkpoints were reordered or replaced`,
      );
    list.push(cp);
  }
  if (list.length === 0) throw failure("checkpoints", "no-checkpoint", "the log holds no checkpoint");
  const latest = list.at(-1)!;
  checks.push(
    check({
      gate: GATE,
      rule: "checkpoints",
      status: "pass",
      subject: log.store.location,
      message: `${list.length} checkpoints, sizes ${list[0]!.size} to ${latest.size}, each signed by ${log.verifier.key}${log.keyGiven ? "" : " (the key the log names: pass --key to check it against yours)"}`,
      code: "checkpoints-verified",
    }),
  );
  return list;
}

function savedCheckpoint(log: AuditLog, saved: { file: string; note: string }, latest: Checkpoint): Checkpoint {
  let cp: Checkpoint;
  try {
    cp = openCheckpoint(saved.note, log.verifier);
  } catch (e) {
    if (!(e instanceof IntegrityError)) throw e;
    throw failure("consistency", "checkpoint-invalid", `${saved.file}: ${e.message}`);
  }
  if (cp.size > latest.size)
    throw failure(
      "consistency",
      "entries-removed",
      `${saved.file} commits to ${cp.size} entries, but the log's latest checkpoint has only ${latest.size}: entries were removed (the log was truncated or replaced)`,
    );
  return cp;
}

/** Walks every entry once, rebuilding the tree and comparing everything stored against it. */
async function verifyEntries(
  log: AuditLog,
  checkpoints: Checkpoint[],
  saved: Checkpoint | undefined,
  options: VerifyOptions,
): Promise<void> {
  const frontier = new Frontier(0, []);
  const atSize = rootChecker(log, checkpoints, saved);
  atSize(frontier);
  const size = checkpoints.at(-1)!.size;
  for (let start = 0; start < size; start += CHUNK) {
    const end = Math.min(size, start + CHUNK);
    const [entries, leaves] = await Promise.all([readChunk(log, start, end), log.store.readLevel(0, start, end)]);
    const completed: { node: TreeNode; hash: Buffer }[] = [];
    entries.forEach((e, i) => {
      const index = start + i;
      const hash = leafHash(e.data);
      if (!hash.equals(e.hash))
        throw failure(
          "entries",
          "entries-altered",
          `entry ${index}: its bytes do not match the hash stored with them: the entry was edited or is corrupt`,
        );
      if (!hash.equals(leaves[i]!))
        throw failure(
          "entries",
          "entries-altered",
          `entry ${index}: its hash is not the tree's leaf ${index}: entries were reordered, removed or replaced`,
        );
      if (options.records) asRecord(e.data, index);
      frontier.append(hash, (node, h) => node.level > 0 && completed.push({ node, hash: h }));
      atSize(frontier);
    });
    await compareStoredNodes(log, completed);
    options.progress?.(end);
  }
}

/** An entry decoded strictly as a record: one that is not fails the entries check as record-invalid. */
function asRecord(data: Buffer, index: number): void {
  try {
    decodeRecord(data, index);
  } catch (e) {
    if (e instanceof IntegrityError) throw failure("entries", "record-invalid", e.message);
    throw e;
  }
}

/**
 * Compares the rebuilt root with every checkpoint (and the saved one) as the tree reaches its size. A
 * log checkpoint that does not match brackets the change to its batch (earlier ones matched); the
 * saved checkpoint, from outside the log, only says the log was rewritten somewhere before it.
 */
function rootChecker(log: AuditLog, checkpoints: readonly Checkpoint[], saved: Checkpoint | undefined): (frontier: Frontier) => void {
  const targets = [
    ...checkpoints.map((cp, i) => ({ cp, what: `checkpoint ${i} (size ${cp.size})`, rule: "entries" })),
    ...(saved ? [{ cp: saved, what: `the saved checkpoint (size ${saved.size})`, rule: "consistency" }] : []),
  ].sort((a, b) => a.cp.size - b.cp.size);
  let next = 0;
  let matchedUpTo = 0;
  return (frontier) => {
    for (; next < targets.length && targets[next]!.cp.size === frontier.size; next++) {
      const { cp, what, rule } = targets[next]!;
      const from = rule === "consistency" ? 0 : matchedUpTo;
      if (!frontier.root().equals(cp.root)) {
        throw failure(
          rule,
          rule === "consistency" ? "inconsistent-with-checkpoint" : "entries-altered",
          `entries ${from} to ${cp.size - 1} do not match ${what}, signed by ${log.verifier.name}: an entry in that range (the first that can be at fault is ${from}) was changed, replaced or reordered, and the stored hashes rewritten to match`,
        );
      }
      if (rule === "entries") matchedUpTo = cp.size;
    }
  };
}

/** Entries [start, end); when the chunk cannot be read, the first entry that cannot is named. */
async function readChunk(log: AuditLog, start: number, end: number): Promise<StoredEntry[]> {
  try {
    return await log.store.readEntries(start, end);
  } catch (e) {
    if (!(e instanceof IntegrityError)) throw e;
    for (let i = start; i < end; i++) {
      try {
        await log.store.readEntries(i, i + 1);
      } catch (inner) {
        if (!(inner instanceof IntegrityError)) throw inner;
        throw failure(
          "entries",
          "entry-unreadable",
          inner.message.startsWith(`entry ${i}`) ? inner.message : `entry ${i}: cannot be read: ${inner.message}`,
        );
      }
    }
    throw e;
  }
}

/** Interior hashes the store keeps for proofs must be the ones the entries give. */
async function compareStoredNodes(log: AuditLog, completed: { node: TreeNode; hash: Buffer }[]): Promise<void> {
  const byLevel = new Map<number, { node: TreeNode; hash: Buffer }[]>();
  for (const c of completed) (byLevel.get(c.node.level) ?? byLevel.set(c.node.level, []).get(c.node.level)!).push(c);
  for (const [level, nodes] of byLevel) {
    const stored = await log.store.readLevel(level, nodes[0]!.node.index, nodes.at(-1)!.node.index + 1);
    nodes.forEach((n, i) => {
      if (!n.hash.equals(stored[i]!)) {
        const width = 2 ** level;
        throw failure(
          "entries",
          "entries-altered",
          `the stored hash of entries ${n.node.index * width} to ${(n.node.index + 1) * width - 1} (level ${level}) does not match them: the tree's hashes were changed, and proofs from this log would not verify`,
        );
      }
    });
  }
}

async function consistency(log: AuditLog, saved: Checkpoint, latest: Checkpoint, file: string): Promise<Check> {
  const proof = await consistencyProof(log.store.readNodes, saved.size, latest.size);
  try {
    verifyConsistency(saved.size, latest.size, saved.root, latest.root, proof);
  } catch (e) {
    if (!(e instanceof IntegrityError)) throw e;
    throw failure("consistency", "inconsistent-with-checkpoint", `${file}: ${e.message}`);
  }
  return check({
    gate: GATE,
    rule: "consistency",
    status: "pass",
    subject: log.store.location,
    message: `the log extends the checkpoint saved in ${file} (size ${saved.size}): its entries are unchanged, and a consistency proof of ${proof.length} hashes to size ${latest.size} verifies`,
    code: "log-extends-checkpoint",
  });
}
