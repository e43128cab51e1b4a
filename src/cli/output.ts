// Printing verdicts: a readable table by default, JSON with --json. Checks are written as they
// arrive, so a verdict over a long history never has to sit in memory whole. A credential in a repository
// URL never reaches the output: the subject and every check pass through the redaction first.
import { redactCredentials, redactValues } from "../core/redact.ts";
import type { Check, Verdict, VerdictSubject } from "../core/verdict.ts";

export interface VerdictSink {
  add(check: Check): void;
  end(): Verdict["verdict"];
}

const symbols: Record<Check["status"], string> = { pass: "PASS", fail: "FAIL", warn: "WARN", skip: "SKIP" };

export function verdictSink(given: VerdictSubject, json: boolean, stream: NodeJS.WriteStream = process.stdout): VerdictSink {
  const out = bufferedWriter(stream);
  const subject = redactValues(given);
  let failed = false;
  let count = 0;
  const counts: Record<Check["status"], number> = { pass: 0, fail: 0, warn: 0, skip: 0 };
  if (json) out.write(`{"subject":${JSON.stringify(subject)},"checks":[`);
  else
    out.write(
      Object.entries(subject)
        .map(([k, v]) => `${k}: ${v}`)
        .join("\n") +
        "\n\n" +
        row("STATUS", "GATE", "RULE", "SUBJECT", "MESSAGE"),
    );
  return {
    add(given) {
      const c = { ...given, subject: redactCredentials(given.subject), message: redactCredentials(given.message) };
      failed ||= c.status === "fail";
      counts[c.status]++;
      const separator = count++ > 0 ? "," : "";
      out.write(json ? `${separator}\n${JSON.stringify(c)}` : row(symbols[c.status], c.gate, c.rule, shortSubject(c.subject), c.message));
    },
    end() {
      // No checks at all passes nothing (fail closed), as makeVerdict decides.
      const verdict = failed || count === 0 ? "fail" : "pass";
      if (json) out.write(`\n],"verdict":"${verdict}"}\n`);
      else {
        const summary = Object.entries(counts)
          .filter(([, n]) => n > 0)
          .map(([s, n]) => `${n} ${s}`)
          .join(", ");
        out.write(`\nverdict: ${verdict.toUpperCase()} (${summary || "no checks"})\n`);
      }
      out.flush();
      return verdict;
    },
  };
}

/** Rows reach a terminal at once; to a file or pipe they go in large writes (one per row is slow). */
export function bufferedWriter(stream: NodeJS.WriteStream): { write(s: string): void; flush(): void } {
  if (stream.isTTY) return { write: (s) => void stream.write(s), flush: () => {} };
  let pending: string[] = [];
  let size = 0;
  const flush = () => {
    if (pending.length > 0) stream.write(pending.join(""));
    pending = [];
    size = 0;
  };
  return {
    write(s) {
      pending.push(s);
      size += s.length;
      if (size >= 1 << 16) flush();
    },
    flush,
  };
}

function row(...cells: string[]): string {
  const widths = [6, 9, 20, 12];
  return cells.map((c, i) => (i < widths.length ? c.padEnd(widths[i]!) : c)).join("  ") + "\n";
}

/** Commit ids are shown as git shows them, abbreviated; JSON keeps them whole. */
function shortSubject(s: string): string {
  return /^[0-9a-f]{40,64}$/.test(s) ? s.slice(0, 12) : s;
}

/** Progress on stderr, only for a person watching a terminal. */
export function progress(label: string): ((n: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  return (n) => {
    const now = Date.now();
    if (now - last < 200) return;
    last = now;
    process.stderr.write(`\r${label} ${n}…`);
  };
}

export function clearProgress(): void {
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
}
