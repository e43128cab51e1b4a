// Raw git objects through one long-lived `git cat-file --batch`: exact bytes, in-process parsing,
// and no process per object (git's own verify-commit starts one per commit).
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";

export interface GitObject {
  id: string;
  type: "commit" | "tree" | "blob" | "tag";
  data: Buffer;
}

interface Pending {
  resolve: (o: GitObject | null) => void;
  reject: (e: Error) => void;
}

export class CatFile {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly pending: Pending[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private failure: Error | null = null;
  private stderr = "";

  constructor(gitDir: string) {
    this.proc = spawn("git", ["--git-dir", gitDir, "cat-file", "--batch"], { stdio: ["pipe", "pipe", "pipe"] });
    this.proc.stdout.on("data", (chunk: Buffer) => this.onData(chunk));
    this.proc.stderr.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.proc.on("error", (e) => this.fail(e));
    this.proc.on("close", (code) => this.fail(new Error(`git cat-file exited (${code}): ${this.stderr.trim()}`)));
    this.proc.stdin.on("error", (e) => this.fail(e));
  }

  /** The object named by `rev` (an id, or "<commit>:<path>"), or null when it does not exist. */
  read(rev: string): Promise<GitObject | null> {
    if (this.failure) return Promise.reject(this.failure);
    if (/[\n\0]/.test(rev)) return Promise.reject(new Error(`invalid object name ${JSON.stringify(rev)}`));
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.proc.stdin.write(rev + "\n");
    });
  }

  close(): void {
    this.failure ??= new Error("cat-file closed");
    this.proc.stdin.end();
  }

  private fail(e: Error): void {
    if (!this.failure) this.failure = e;
    for (const p of this.pending.splice(0)) p.reject(this.failure);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    while (this.pending.length > 0) {
      const eol = this.buffer.indexOf(10);
      if (eol < 0) return;
      const header = this.buffer.subarray(0, eol).toString("utf8");
      if (header.endsWith(" missing") || header.endsWith(" ambiguous")) {
        this.buffer = this.buffer.subarray(eol + 1);
        this.pending.shift()!.resolve(null);
        continue;
      }
      const [id, type, size] = header.split(" ");
      const length = Number(size);
      if (!id || !type || !Number.isSafeInteger(length)) {
        this.fail(new Error(`unexpected git cat-file output: ${header}`));
        return;
      }
      if (this.buffer.length < eol + 1 + length + 1) return;
      const data = Buffer.from(this.buffer.subarray(eol + 1, eol + 1 + length));
      this.buffer = this.buffer.subarray(eol + 1 + length + 1);
      this.pending.shift()!.resolve({ id, type: type as GitObject["type"], data });
    }
  }
}
