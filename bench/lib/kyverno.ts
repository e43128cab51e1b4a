// The kyverno CLI for benchmarks, pinned and built from source through the Go module proxy (no release
// binaries), cached under .cache/kyverno/<version>/ so only the first run pays for the compile.
// `go install …@version` refuses kyverno's module because its go.mod has replace directives, so the
// module is downloaded and built inside a writable copy of it, where those directives apply.
//   node bench/lib/kyverno.ts      builds (or finds) the binary and prints its path
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

export const kyvernoVersion = "v1.19.1";
const modulePath = "github.com/kyverno/kyverno";

export function kyvernoBinary(root = resolve(import.meta.dirname, "..", "..")): string {
  const dir = join(root, ".cache", "kyverno", kyvernoVersion);
  const binary = join(dir, "kubectl-kyverno");
  if (existsSync(binary)) return binary;
  const downloaded = JSON.parse(execFileSync("go", ["mod", "download", "-json", `${modulePath}@${kyvernoVersion}`], { encoding: "utf8" }));
  const source = join(dir, "src");
  rmSync(source, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // The module cache is read-only and go will not build a module in place there.
  cpSync(downloaded.Dir, source, { recursive: true });
  execFileSync("chmod", ["-R", "u+w", source]);
  console.error(`building kubectl-kyverno ${kyvernoVersion} (first run only, several minutes)…`);
  const partial = `${binary}.partial`;
  execFileSync("go", ["build", "-trimpath", "-ldflags=-s -w", "-o", partial, "./cmd/cli/kubectl-kyverno"], {
    cwd: source,
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, GOFLAGS: "-mod=mod -buildvcs=false", CGO_ENABLED: "0" },
  });
  renameSync(partial, binary);
  rmSync(source, { recursive: true, force: true });
  return binary;
}

if (import.meta.main) console.log(kyvernoBinary());
