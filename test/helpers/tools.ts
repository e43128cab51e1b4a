// Test support: run real programs, make temporary directories, and insist on the real components.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, type TestContext } from "node:test";
import { goBin } from "../../scripts/setup.ts";

// Go tools built by scripts/setup.ts (cosign) are found like any other program.
process.env.PATH = `${goBin}:${process.env.PATH ?? ""}`;
// The render stage runs the kustomize setup built, not the product's default /usr/local/bin/kustomize.
process.env.VIGIL_KUSTOMIZE ??= join(goBin, "kustomize");

/** Runs a program and returns its stdout; throws with stderr on a non-zero exit. */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer } = {}): string {
  try {
    return execFileSync(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      input: opts.input,
      encoding: "utf8",
      stdio: ["pipe", "pipe", "pipe"],
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")} failed: ${err.stderr || err.message}`);
  }
}

export function tempDir(t: TestContext | { after(fn: () => void): void }, prefix = "vigil-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function hasTool(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
}

/**
 * The real components a test needs. In CI (CI=true) a missing one fails the test; on a developer's
 * machine the test is skipped with the install command, never silently.
 */
export function requireTools(t: TestContext, tools: string[]): boolean {
  const missing = tools.filter((tool) => !hasTool(tool));
  if (missing.length === 0) return true;
  const message = `missing ${missing.join(", ")}: run "node scripts/setup.ts" to install`;
  if (process.env.CI === "true") throw new Error(message);
  t.skip(message);
  return false;
}

const cli = new URL("../../src/cli/main.ts", import.meta.url).pathname;

/** Runs the vigil CLI as a user would, on the same Node.js as the tests. */
export function vigil(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): { status: number; stdout: string; stderr: string; json: () => any } {
  const r = spawnSync(process.execPath, [cli, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) };
}

/** Public test data in ../shared/data: like a component, missing data fails in CI and skips loudly elsewhere. */
export function requireSharedData(t: TestContext, path: string): boolean {
  if (existsSync(path)) return true;
  const message = `the shared test data is missing (${path}); it lives beside the project in shared/data`;
  if (process.env.CI === "true") throw new Error(message);
  t.skip(message);
  return false;
}

/**
 * Cleanup for the whole test file, last registered first: call at the top level of the file (not inside
 * a hook, where node's runner would attach it to the first test instead).
 */
export function fileScope(): { after(fn: () => unknown): void } {
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  return { after: (fn) => void cleanups.push(fn) };
}
