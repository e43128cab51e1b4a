// Builds the Kubernetes control plane the tests run (kube-apiserver, etcd) and kubectl from the Go module
// proxy, at the versions pinned by the Go modules in tools/kube and tools/etcd, into .cache/kube/bin.
// Debian ships no Kubernetes server, and a release download is not reachable from here, so the source
// comes as Go modules: k8s.io/kubernetes itself, with its staging modules (k8s.io/api, apiserver…)
// replaced by their published releases (see tools/kube/go.mod).
//
// A binary is rebuilt only when its module's go.mod or go.sum changed since it was built (a stamp beside
// the binary holds their hash): the first build takes minutes, later setups take nothing.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
export const kubeBin = join(root, ".cache", "kube", "bin");

interface Binary {
  /** The Go module (a folder under tools/) that pins it. */
  module: string;
  package: string;
  /** Linker flags: kube's version stamps, which its own release build sets the same way. */
  ldflags?: (module: string) => string[];
}

export const kubeBinaries: Record<string, Binary> = {
  "kube-apiserver": { module: "kube", package: "k8s.io/kubernetes/cmd/kube-apiserver", ldflags: kubeVersionFlags },
  kubectl: { module: "kube", package: "k8s.io/kubernetes/cmd/kubectl", ldflags: kubeVersionFlags },
  // etcd's own main package; its module has one of its own (tools/etcd) so it keeps its own pins.
  etcd: { module: "etcd", package: "go.etcd.io/etcd/server/v3" },
};

/** The pinned version of a required module, read from a tools/ module's go.mod. */
export function pinnedVersion(module: string, path: string): string {
  const goMod = readFileSync(join(root, "tools", module, "go.mod"), "utf8");
  const m = new RegExp(`^\\s*${path.replaceAll(".", "\\.")} (v\\S+)`, "m").exec(goMod);
  if (!m) throw new Error(`tools/${module}/go.mod does not require ${path}`);
  return m[1]!;
}

/**
 * Without these, kube-apiserver and kubectl call themselves v0.0.0-master: kubectl then warns about
 * version skew, and /version says nothing useful.
 */
function kubeVersionFlags(module: string): string[] {
  const version = pinnedVersion(module, "k8s.io/kubernetes");
  const [major, minor] = version.slice(1).split(".");
  return ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"].flatMap((pkg) => [
    `-X ${pkg}.gitVersion=${version}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`,
  ]);
}

function moduleHash(module: string): string {
  const dir = join(root, "tools", module);
  const hash = createHash("sha256");
  for (const file of ["go.mod", "go.sum"]) hash.update(readFileSync(join(dir, file)));
  return hash.digest("hex");
}

const stampOf = (program: string) => join(kubeBin, `.${program}.stamp`);

/** Whether the binary is there and was built from the module as it is now. */
export function isBuilt(program: string): boolean {
  const stamp = stampOf(program);
  return (
    existsSync(join(kubeBin, program)) && existsSync(stamp) && readFileSync(stamp, "utf8") === moduleHash(kubeBinaries[program]!.module)
  );
}

/** Builds whatever is missing or stale; returns the programs that could not be built. */
export function buildKube(): string[] {
  const stale = Object.keys(kubeBinaries).filter((p) => !isBuilt(p));
  mkdirSync(kubeBin, { recursive: true });
  for (const program of stale) {
    const { module, package: pkg, ldflags = () => [] } = kubeBinaries[program]!;
    console.error(`setup: building ${program} (${pkg} from tools/${module}) with go build (first run only, several minutes)`);
    rmSync(stampOf(program), { force: true });
    const started = Date.now();
    const r = spawnSync(
      "go",
      ["build", "-trimpath", "-ldflags", ["-s", "-w", ...ldflags(module)].join(" "), "-o", join(kubeBin, program), pkg],
      {
        cwd: join(root, "tools", module),
        stdio: ["ignore", "ignore", "inherit"],
        // -mod=readonly: the committed go.sum is the pin; a build never edits it.
        env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=readonly -buildvcs=false" },
      },
    );
    if (r.status !== 0) continue;
    writeFileSync(stampOf(program), moduleHash(module));
    console.error(`setup: built ${program} in ${Math.round((Date.now() - started) / 1000)}s`);
  }
  return stale.filter((p) => !isBuilt(p));
}
