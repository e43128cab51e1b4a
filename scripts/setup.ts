// Installs the real components the tests and the example need, idempotently: Debian packages through
// apt-get when a program is missing. With CI=true any component that cannot be installed is an error.
import { spawnSync } from "node:child_process";

/** Program on PATH → Debian package that provides it. */
const debian: Record<string, string> = {
  git: "git",
  "ssh-keygen": "openssh-client",
  gpg: "gnupg",
  gpgsm: "gpgsm",
  openssl: "openssl",
};

const has = (program: string) => spawnSync("sh", ["-c", `command -v ${program}`], { stdio: "ignore" }).status === 0;

function sh(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
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

const stillMissing = installDebian();
if (stillMissing.length > 0) {
  console.error(`setup: could not install ${stillMissing.join(", ")}`);
  if (process.env.CI === "true") process.exit(1);
}
