// vigil audit: the transparency log of every decision (docs/audit.md). init makes its key and creates it;
// verify checks all of it; prove, show, export and explain read it.
import { existsSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { InputError } from "../../core/errors.ts";
import { integerOption } from "../options.ts";
import { check, type Check } from "../../core/verdict.ts";
import { parseDuration } from "../../core/duration.ts";
import { readInputText } from "../../core/input-file.ts";
import { generateSignerKey, isKeyName, parseVerifierKey } from "../../audit/note.ts";
import { AuditLog, loadSigningKey } from "../../audit/log.ts";
import { describeRecord } from "../../audit/record.ts";
import type { AuditRecord } from "../../api/audit-record.ts";
import { IntegrityError } from "../../audit/proof.ts";
import { redactUrl } from "../../audit/store.ts";
import { verifyLog } from "../../audit/verify.ts";
import { explain, parseExplainTarget, type Explanation } from "../../audit/explain.ts";
import { bufferedWriter, clearProgress, progress, verdictSink } from "../output.ts";
import { required, defineCommand, type Command } from "../command.ts";

const logHelp = "  --log DIR|URL     the log: a directory (the embedded store) or a postgres:// URL (PGPASSWORD or the URL's password)";
const keyHelp =
  "  --key PUBKEY      the log's verifier key (NAME+HASH+BASE64), or a file holding it; default: the key the log names (weaker)";
const readOptions = { log: { type: "string" }, key: { type: "string" } } as const;

/** The verifier key given as the string itself or a file holding it. */
function verifierKeyArgument(value: string): string {
  try {
    return parseVerifierKey(value, "--key").key;
  } catch (e) {
    if (!(e instanceof IntegrityError)) throw e;
  }
  if (!existsSync(value)) throw new InputError(`--key ${value}: neither a verifier key (NAME+HASH+BASE64) nor a file`);
  try {
    return parseVerifierKey(readInputText(value, "the verifier key"), value).key;
  } catch (e) {
    if (e instanceof IntegrityError) throw new InputError(e.message);
    throw e;
  }
}

async function openForReading(values: { log?: string | undefined; key?: string | undefined }, cmd: Command): Promise<AuditLog> {
  const key = values.key;
  return AuditLog.open(required(values, "log", cmd), key ? { verifierKey: verifierKeyArgument(key) } : {});
}

async function withLog<T>(
  values: { log?: string | undefined; key?: string | undefined },
  cmd: Command,
  body: (log: AuditLog) => Promise<T>,
): Promise<T> {
  const log = await openForReading(values, cmd);
  try {
    return await body(log);
  } finally {
    await log.close();
  }
}

export const auditInit = defineCommand({
  usage: "vigil audit init --log DIR|URL --key-file FILE [--origin NAME] [--json]",
  help: [
    logHelp,
    "  --key-file FILE   the signing key (PRIVATE+KEY+…, mode 0600); made when missing, never overwritten.",
    "                    The verifier key is written beside it, to FILE.pub. Agents that share a log share its key.",
    "  --origin NAME     the log's name, the first line of every checkpoint (default vigil-audit/HOST/RANDOM)",
  ].join("\n"),
  options: { log: { type: "string" }, "key-file": { type: "string" }, origin: { type: "string" } },
  async run(values) {
    const location = required(values, "log", this);
    const keyFile = required(values, "key-file", this);
    const origin = values.origin ?? `vigil-audit/${hostname()}/${randomBytes(4).toString("hex")}`;
    if (!isKeyName(origin)) throw new InputError(`--origin "${origin}": must not be empty or hold spaces or "+"`);
    const made = !existsSync(keyFile);
    if (made) {
      const { signerKey, verifierKey } = generateSignerKey(origin);
      writeFileSync(keyFile, signerKey + "\n", { mode: 0o600, flag: "wx" });
      writeFileSync(`${keyFile}.pub`, verifierKey + "\n");
    } else if (values.origin) throw new InputError(`${keyFile} exists: its name is the log's origin, so --origin cannot be given with it`);
    const log = await AuditLog.open(location, { signingKeyFile: keyFile });
    try {
      const checkpoint = await log.latest();
      const summary = {
        log: log.store.location,
        keyFile,
        keyMade: made,
        verifierKey: loadSigningKey(keyFile).verifier.key,
        size: checkpoint.size,
        checkpoint: checkpoint.note,
      };
      process.stdout.write(
        values.json
          ? JSON.stringify(summary) + "\n"
          : `${made ? "signing key written to" : "signing key (existing)"} ${keyFile}\nverifier key: ${summary.verifierKey}\nlog: ${summary.log} (${checkpoint.size} entries)\n\n${checkpoint.note}`,
      );
    } finally {
      await log.close();
    }
    return 0;
  },
});

export const auditVerify = defineCommand({
  usage: "vigil audit verify --log DIR|URL --key PUBKEY [--checkpoint FILE] [--records] [--json]",
  help: [
    logHelp,
    "  --key PUBKEY      the log's verifier key (NAME+HASH+BASE64), or a file holding it",
    "  --checkpoint FILE a checkpoint saved earlier: the log must still extend it (catches a log rewritten whole)",
    "  --records         also decode every entry as a record, strictly (finds a writer's mistake; tampering fails the hashes)",
    "  Exit 1 names the first entry, hash or checkpoint that does not verify.",
  ].join("\n"),
  options: { ...readOptions, checkpoint: { type: "string" }, records: { type: "boolean" } },
  async run(values) {
    const key = verifierKeyArgument(required(values, "key", this));
    const savedFile = values.checkpoint;
    const saved = savedFile ? { file: savedFile, note: readInputText(savedFile, "the saved checkpoint") } : undefined;
    const location = required(values, "log", this);
    let checks: Check[];
    try {
      checks = await withLog(values, this, async (log) => {
        const show = progress("verified entries");
        const found = await verifyLog(log, { ...(saved && { saved }), ...(show && { progress: show }), records: values.records === true });
        clearProgress();
        return found;
      });
    } catch (e) {
      // The latest checkpoint is checked on opening: a log that fails there is a verdict too.
      if (!(e instanceof IntegrityError)) throw e;
      checks = [
        check({
          gate: "audit",
          rule: "checkpoints",
          status: "fail",
          subject: redactUrl(location),
          message: e.message,
          code: "checkpoint-invalid",
        }),
      ];
    }
    const sink = verdictSink({ log: redactUrl(location), key }, values.json === true);
    checks.forEach((c) => sink.add(c));
    return sink.end() === "pass" ? 0 : 1;
  },
});

export const auditProve = defineCommand({
  usage: "vigil audit prove --log DIR|URL [--key PUBKEY] (INDEX | --entry HASH | --consistency SIZE) [--json]",
  help: [
    logHelp,
    keyHelp,
    "  INDEX             the entry's index",
    "  --entry HASH      the entry's leaf hash (hex, as show and export print it)",
    "  --consistency SIZE  a consistency proof from the tree of SIZE entries to the latest checkpoint",
    "  The proof is against the latest checkpoint, printed with it; hashes are hex.",
  ].join("\n"),
  options: { ...readOptions, entry: { type: "string" }, consistency: { type: "string" } },
  positionals: true,
  async run(values, positionals) {
    const given = [positionals.length > 0, values.entry !== undefined, values.consistency !== undefined].filter(Boolean).length;
    if (given !== 1 || positionals.length > 1)
      throw new InputError(`give one of INDEX, --entry HASH or --consistency SIZE\nusage: ${this.usage}`);
    return withLog(values, this, async (log) => {
      if (values.consistency !== undefined)
        return printConsistency(log, integerOption(values.consistency, "--consistency"), values.json === true);
      const index =
        values.entry !== undefined ? await log.find(leafHashArgument(values.entry)) : integerOption(positionals[0] ?? "", "INDEX");
      const proof = await log.prove(index);
      const out = {
        index,
        leafHash: proof.leafHash.toString("hex"),
        treeSize: proof.checkpoint.size,
        hashes: proof.hashes.map((h) => h.toString("hex")),
        checkpoint: proof.checkpoint.note,
      };
      process.stdout.write(
        values.json
          ? JSON.stringify(out, null, 2) + "\n"
          : `entry ${index} (leaf hash ${out.leafHash}) is in the tree of ${out.treeSize} entries: inclusion proof verified\n\n${out.hashes.map((h, i) => `  ${i}  ${h}\n`).join("")}\n${out.checkpoint}`,
      );
      return 0;
    });
  },
});

async function printConsistency(log: AuditLog, oldSize: number, json: boolean): Promise<number> {
  const proof = await log.proveConsistency(oldSize);
  const out = {
    oldSize,
    oldRoot: proof.oldRoot.toString("hex"),
    treeSize: proof.checkpoint.size,
    hashes: proof.hashes.map((h) => h.toString("hex")),
    checkpoint: proof.checkpoint.note,
  };
  process.stdout.write(
    json
      ? JSON.stringify(out, null, 2) + "\n"
      : `the tree of ${oldSize} entries (root ${out.oldRoot}) is a prefix of the tree of ${out.treeSize}: consistency proof verified\n\n${out.hashes.map((h, i) => `  ${i}  ${h}\n`).join("")}\n${out.checkpoint}`,
  );
  return 0;
}

function leafHashArgument(text: string): Buffer {
  if (/^[0-9a-f]{64}$/i.test(text)) return Buffer.from(text, "hex");
  const b = Buffer.from(text, "base64");
  if (b.length === 32 && b.toString("base64") === text) return b;
  throw new InputError(`--entry "${text}": must be a SHA-256 leaf hash (64 hex digits, or base64)`);
}

/** --env, --since and --kind, as one test over records. */
function recordFilter(values: {
  env?: string | undefined;
  kind?: string | undefined;
  since?: string | undefined;
}): (r: AuditRecord) => boolean {
  const env = values.env;
  const kind = values.kind;
  const since = values.since === undefined ? undefined : sinceTime(values.since);
  return (r) =>
    (env === undefined || r.environment === env) &&
    (kind === undefined || r.kind === kind) &&
    (since === undefined || Date.parse(r.time) >= since);
}

/** An RFC 3339 time, or a duration back from now ("24h"). */
function sinceTime(text: string): number {
  if (/^(\d+[smhd])+$/.test(text)) return Date.now() - parseDuration(text, "--since");
  const t = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}(T|$)/.test(text) || Number.isNaN(t))
    throw new InputError(`--since "${text}": give a time (2026-01-31T12:00:00Z) or a duration back from now (24h, 7d)`);
  return t;
}

const filterOptions = { env: { type: "string" }, since: { type: "string" }, kind: { type: "string" } } as const;
const filterHelp = [
  "  --env ENV         only records of this environment",
  "  --since T         only records from this time (RFC 3339) or this long ago (24h, 7d)",
  "  --kind KIND       only records of this kind (reconcile, apply, prune, drift, deployment, approval, policy-change, trust-policy-change, finding)",
].join("\n");

export const auditShow = defineCommand({
  usage: "vigil audit show --log DIR|URL [--key PUBKEY] [--env ENV] [--since T] [--kind KIND] [--json]",
  help: [logHelp, keyHelp, filterHelp].join("\n"),
  options: { ...readOptions, ...filterOptions },
  async run(values) {
    const keep = recordFilter(values);
    return withLog(values, this, async (log) => {
      const json = values.json === true;
      const writer = bufferedWriter(process.stdout);
      const out = (s: string) => writer.write(s);
      let shown = 0;
      out(json ? "[" : `${"INDEX".padEnd(8)}  ${"TIME".padEnd(24)}  ${"KIND".padEnd(19)}  ${"ENV".padEnd(10)}  SUMMARY\n`);
      for await (const e of log.entries()) {
        if (!keep(e.record)) continue;
        out(
          json
            ? `${shown > 0 ? "," : ""}\n${JSON.stringify({ index: e.index, leafHash: e.leafHash.toString("hex"), ...e.record })}`
            : `${String(e.index).padEnd(8)}  ${e.record.time.padEnd(24)}  ${e.record.kind.padEnd(19)}  ${(e.record.environment ?? "-").padEnd(10)}  ${describeRecord(e.record)}\n`,
        );
        shown++;
      }
      out(json ? "\n]\n" : `\n${shown} record${shown === 1 ? "" : "s"}\n`);
      writer.flush();
      return 0;
    });
  },
});

export const auditExport = defineCommand({
  usage: "vigil audit export --log DIR|URL [--key PUBKEY] [--from INDEX] [--env ENV] [--since T] [--kind KIND]",
  help: [logHelp, keyHelp, "  --from INDEX      start at this entry (to continue an earlier export)", filterHelp].join("\n"),
  options: { ...readOptions, ...filterOptions, from: { type: "string" } },
  async run(values) {
    const keep = recordFilter(values);
    const from = values.from === undefined ? 0 : integerOption(values.from, "--from");
    return withLog(values, this, async (log) => {
      const out = bufferedWriter(process.stdout);
      for await (const e of log.entries(from))
        if (keep(e.record)) out.write(JSON.stringify({ index: e.index, leafHash: e.leafHash.toString("hex"), ...e.record }) + "\n");
      out.flush();
      return 0;
    });
  },
});

export const auditExplain = defineCommand({
  usage: "vigil audit explain (RESOURCE | IMAGE) --env ENV --log DIR|URL [--key PUBKEY] [--json]",
  help: [
    "  RESOURCE          Kind/namespace/name (Deployment/shop/web), or Kind/name",
    "  IMAGE             an image reference (registry/repo[:tag][@digest]) or a digest (sha256:…)",
    "  --env ENV         the environment it runs in",
    logHelp,
    keyHelp,
    "  Links: the apply that wrote it and the images it runs; the commit range, its signers and every gate's verdict",
    "  (policy checks on it, its images' signatures and attestations); approvals. Each names its log entry, and",
    "  each entry's inclusion proof in the latest checkpoint is verified (printed with --json).",
  ].join("\n"),
  options: { ...readOptions, env: { type: "string" } },
  positionals: true,
  async run(values, positionals) {
    if (positionals.length !== 1) throw new InputError(`give one RESOURCE or IMAGE\nusage: ${this.usage}`);
    const target = parseExplainTarget(positionals[0]!);
    const env = required(values, "env", this);
    return withLog(values, this, async (log) => {
      const found = await explain(log, target, env);
      process.stdout.write(values.json ? JSON.stringify(explanationJson(found), null, 2) + "\n" : explanationText(found, log));
      return 0;
    });
  },
});

function explanationJson(e: Explanation) {
  return {
    ...e,
    proofs: e.proofs.map((p) => ({
      index: p.index,
      leafHash: p.leafHash.toString("hex"),
      treeSize: p.checkpoint.size,
      hashes: p.hashes.map((h) => h.toString("hex")),
    })),
    checkpoint: e.proofs[0]?.checkpoint.note,
  };
}

function explanationText(e: Explanation, log: AuditLog): string {
  const rows = e.links.map((l) => `${String(l.index).padEnd(8)}  ${l.link.padEnd(12)}  ${l.detail}\n`).join("");
  const cp = e.proofs[0]!.checkpoint;
  return (
    `${e.target} in ${e.environment}: revision ${e.revision}\n\n${"ENTRY".padEnd(8)}  ${"LINK".padEnd(12)}  DETAIL\n${rows}\n` +
    `inclusion proofs verified for entries ${e.proofs.map((p) => p.index).join(", ")} against the checkpoint of size ${cp.size} signed by ${log.verifier.key}` +
    `${log.keyGiven ? "" : " (the key the log names: pass --key to check it against yours)"}\n`
  );
}
