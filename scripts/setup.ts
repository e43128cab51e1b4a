// Installs the real components the tests and the example need, idempotently: Debian packages through
// apt-get when a program is missing, Go tools with `go install` at pinned versions into .cache/go/bin,
// and a Kubernetes API server with etcd and kubectl built from pinned Go modules into .cache/kube/bin
// (scripts/kube-build.ts). Both caches are kept between runs, so only the first run builds. With CI=true
// any component that cannot be installed is an error.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { buildKube } from "./kube-build.ts";
import { KUSTOMIZE_MODULE, KUSTOMIZE_VERSION } from "../src/render/kustomize-release.ts";

/** Program on PATH → Debian package that provides it. */
const debian: Record<string, string> = {
  git: "git",
  "ssh-keygen": "openssh-client",
  gpg: "gnupg",
  gpgsm: "gpgsm",
  openssl: "openssl",
  "docker-registry": "docker-registry",
  htpasswd: "apache2-utils",
  skopeo: "skopeo",
  // The audit log's shared store (issue 6); tests start the server in a temporary directory.
  initdb: "postgresql",
  // SBOM tests (issue 18): Debian .debs unpacked for a real root, a cargo-auditable section added to a
  // real binary, JARs fetched from Maven Central.
  "dpkg-deb": "dpkg",
  objcopy: "binutils",
  mvn: "maven",
  rpmbuild: "rpm",
  db_load: "db-util",
  // The console's browser tests and page-load benchmark (issue 23) drive Debian's Chromium headless.
  chromium: "chromium",
  // The SBOM tests of Python lock files (issue 18) make them with uv, poetry and pipenv, installed with
  // `pip install --target` into a temporary folder (not the system's packages).
  python3: "python3",
  pip: "python3-pip",
};

/** Program → Go package and pinned version, built from the Go module proxy. */
const goTools: Record<string, string> = {
  cosign: "github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3",
  // The agent renders Kustomize overlays with it (issue 5), at the release the product pins
  // (src/render/kustomize-release.ts; v5.8.2 is the newest that Go 1.26 builds).
  kustomize: `${KUSTOMIZE_MODULE}@${KUSTOMIZE_VERSION}`,
  // vigil scan is compared with it offline over the same OSV zips (issue 19). v2.6.0 needs Go 1.27.
  "osv-scanner": "github.com/google/osv-scanner/v2/cmd/osv-scanner@v2.5.0",
  // The peer in the SBOM benchmark (issue 18).
  syft: "github.com/anchore/syft/cmd/syft@v1.57.2",
  // The peer in the secrets benchmark (issue 22).
  gitleaks: "github.com/zricethezav/gitleaks/v8@v8.30.1",
  // Encrypts the SOPS files the interop tests decrypt (issue 22).
  sops: "github.com/getsops/sops/v3/cmd/sops@v3.13.3",
  // The admission benchmark's load generator (issue 21): a constant rate that costs little CPU, with its own percentiles.
  vegeta: "github.com/tsenart/vegeta/v12@v12.13.0",
};

export const goBin = join(import.meta.dirname, "..", ".cache", "go", "bin");

const onPath = (program: string) => spawnSync("sh", ["-c", `command -v ${program}`], { stdio: "ignore" }).status === 0;
const has = (program: string) => (program === "initdb" ? postgresBin() !== undefined : onPath(program));

/** The folder of PostgreSQL's server programs (initdb, pg_ctl, postgres): on PATH, or where Debian keeps
 *  them, /usr/lib/postgresql/VERSION/bin (the newest version there). */
export function postgresBin(): string | undefined {
  const found = spawnSync("sh", ["-c", "command -v initdb"], { encoding: "utf8" });
  if (found.status === 0 && found.stdout.trim()) return dirname(realpathSync(found.stdout.trim()));
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  return newest === undefined ? undefined : join(root, newest, "bin");
}

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): boolean {
  const r = spawnSync(cmd, args, {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive", ...env },
  });
  return r.status === 0;
}

function installDebian(): string[] {
  const missing = Object.keys(debian).filter((p) => !has(p));
  if (missing.length === 0) return [];
  const packages = [...new Set(missing.map((p) => debian[p]!))];
  console.error(`setup: installing ${packages.join(", ")} with apt-get`);
  const apt = process.getuid?.() === 0 ? ["apt-get"] : ["sudo", "-n", "apt-get"];
  sh(apt[0]!, [...apt.slice(1), "update", "-qq"]);
  sh(apt[0]!, [...apt.slice(1), "install", "-y", "-qq", "--no-install-recommends", ...packages]);
  return missing.filter((p) => !has(p));
}

function installGoTools(): string[] {
  const missing = Object.keys(goTools).filter((p) => !existsSync(join(goBin, p)));
  for (const program of missing) {
    console.error(`setup: building ${goTools[program]} with go install (first run only, a few minutes)`);
    sh("go", ["install", goTools[program]!], { GOBIN: goBin, GOFLAGS: "-mod=mod", CGO_ENABLED: "0" });
  }
  return missing.filter((p) => !existsSync(join(goBin, p)));
}

if (import.meta.main) {
  const stillMissing = [...installDebian(), ...installGoTools(), ...buildKube()];
  if (stillMissing.length > 0) {
    console.error(`setup: could not install ${stillMissing.join(", ")}`);
    if (process.env.CI === "true") process.exit(1);
  }
}
