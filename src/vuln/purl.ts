// From a component's package URL to the OSV ecosystem, package name and version its advisories use,
// the way OSV's own tools map them: pkg:deb/debian/x?distro=debian-12 → Debian:12 (by the source
// package when the purl names it), pkg:apk/alpine/x?distro=3.20.1 → Alpine:v3.20 (by the origin
// package), pkg:rpm/almalinux/x?distro=almalinux-9.3 → AlmaLinux:9 with the epoch, pkg:npm/@s/x → npm
// "@s/x", pkg:maven/g/a → Maven "g:a", pkg:golang/m/p → Go "m/p". A purl that names no ecosystem OSV
// covers, or a distribution package without its release, is said so; never guessed.
import { PackageURL } from "packageurl-js";
import { normalizeName } from "./ecosystems.ts";

export type Mapped =
  | { ok: true; ecosystem: string; name: string; version: string }
  | { ok: false; reason: string; ecosystem?: string; name?: string; version?: string };

const DEBIAN_CODENAMES: Record<string, string> = {
  jessie: "8",
  stretch: "9",
  buster: "10",
  bullseye: "11",
  bookworm: "12",
  trixie: "13",
  forky: "14",
};
const UBUNTU_CODENAMES: Record<string, string> = {
  trusty: "14.04",
  xenial: "16.04",
  bionic: "18.04",
  focal: "20.04",
  jammy: "22.04",
  kinetic: "22.10",
  lunar: "23.04",
  mantic: "23.10",
  noble: "24.04",
  oracular: "24.10",
  plucky: "25.04",
  questing: "25.10",
};
const RPM_DISTROS: Record<string, string> = {
  almalinux: "AlmaLinux",
  rocky: "Rocky Linux",
  "rocky-linux": "Rocky Linux",
  redhat: "Red Hat",
  rhel: "Red Hat",
  opensuse: "openSUSE",
  suse: "SUSE",
  mageia: "Mageia",
  openeuler: "openEuler",
};

const SIMPLE: Record<string, string> = {
  npm: "npm",
  pypi: "PyPI",
  cargo: "crates.io",
  gem: "RubyGems",
  nuget: "NuGet",
  pub: "Pub",
  hex: "Hex",
  cran: "CRAN",
  hackage: "Hackage",
  bitnami: "Bitnami",
  swift: "SwiftURL",
  k8s: "Kubernetes",
};

/** `source`: the distribution source package when the SBOM names it outside the purl (an `upstream` qualifier wins). */
export function mapPurl(purl: string, source?: { name: string; version?: string }): Mapped {
  let p: PackageURL;
  try {
    p = PackageURL.fromString(purl);
  } catch (e) {
    return { ok: false, reason: `unreadable purl: ${(e as Error).message}` };
  }
  const q: Record<string, string> = { ...(p.qualifiers ?? {}) };
  if (source && q.upstream === undefined) q.upstream = source.version ? `${source.name}@${source.version}` : source.name;
  const version = p.version ?? "";
  const joined = p.namespace ? `${p.namespace}/${p.name}` : p.name;
  const done = (ecosystem: string, name: string, v: string): Mapped =>
    v === ""
      ? { ok: false, reason: "the purl has no version", ecosystem, name }
      : { ok: true, ecosystem, name: normalizeName(ecosystem, name), version: v };
  switch (p.type) {
    case "golang":
      return done("Go", joined, version);
    case "maven":
      return done("Maven", p.namespace ? `${p.namespace}:${p.name}` : p.name, version);
    case "composer":
      return done("Packagist", joined, version);
    case "deb":
      return debPackage(p, q, version);
    case "apk":
      return apkPackage(p, q, version);
    case "rpm":
      return rpmPackage(p, q, version);
    default:
      if (Object.hasOwn(SIMPLE, p.type))
        return done(SIMPLE[p.type]!, p.type === "npm" || p.type === "swift" || p.type === "k8s" ? joined : p.name, version);
      return { ok: false, reason: `no OSV ecosystem covers purl type "${p.type}"` };
  }
}

/** The source package named by a purl's `upstream` qualifier ("openssl" or "openssl@3.0.11-1"). */
function upstream(q: Record<string, string>): { name?: string; version?: string } {
  const u = q.upstream ?? q.source;
  if (!u) return {};
  const at = u.indexOf("@");
  return at < 0 ? { name: u } : { name: u.slice(0, at), version: u.slice(at + 1) };
}

function debPackage(p: PackageURL, q: Record<string, string>, version: string): Mapped {
  const ns = (p.namespace ?? "").toLowerCase();
  const src = upstream(q);
  const name = src.name ?? p.name;
  const v = src.version ?? version;
  const distro = (q.distro ?? "").toLowerCase();
  if (ns === "debian") {
    const release = /^(?:debian-)?(\d+)/.exec(distro)?.[1] ?? DEBIAN_CODENAMES[distro.replace(/^debian-/, "")];
    if (!release)
      return {
        ok: false,
        reason: `pkg:deb/debian without a Debian release in its distro qualifier (${JSON.stringify(q.distro ?? "")})`,
        ecosystem: "Debian",
        name,
        version: v,
      };
    return v === "" ? { ok: false, reason: "the purl has no version" } : { ok: true, ecosystem: `Debian:${release}`, name, version: v };
  }
  if (ns === "ubuntu") {
    const release = /^(?:ubuntu-)?(\d+\.\d+)/.exec(distro)?.[1] ?? UBUNTU_CODENAMES[distro.replace(/^ubuntu-/, "")];
    if (!release)
      return {
        ok: false,
        reason: `pkg:deb/ubuntu without an Ubuntu release in its distro qualifier (${JSON.stringify(q.distro ?? "")})`,
        ecosystem: "Ubuntu",
        name,
        version: v,
      };
    return v === "" ? { ok: false, reason: "the purl has no version" } : { ok: true, ecosystem: `Ubuntu:${release}`, name, version: v };
  }
  return { ok: false, reason: `no OSV ecosystem covers deb packages of "${p.namespace ?? ""}"` };
}

function apkPackage(p: PackageURL, q: Record<string, string>, version: string): Mapped {
  const ns = (p.namespace ?? "").toLowerCase();
  const name = upstream(q).name ?? p.name;
  if (ns !== "alpine") return { ok: false, reason: `no OSV ecosystem covers apk packages of "${p.namespace ?? ""}"` };
  const m = /^(?:alpine-)?v?(\d+)\.(\d+)/.exec((q.distro ?? "").toLowerCase());
  if (!m)
    return {
      ok: false,
      reason: `pkg:apk/alpine without an Alpine release in its distro qualifier (${JSON.stringify(q.distro ?? "")})`,
      ecosystem: "Alpine",
      name,
      version,
    };
  return version === ""
    ? { ok: false, reason: "the purl has no version" }
    : { ok: true, ecosystem: `Alpine:v${m[1]}.${m[2]}`, name, version };
}

function rpmPackage(p: PackageURL, q: Record<string, string>, version: string): Mapped {
  const ns = (p.namespace ?? "").toLowerCase();
  const base = RPM_DISTROS[ns];
  if (!base) return { ok: false, reason: `no OSV ecosystem covers rpm packages of "${p.namespace ?? ""}"` };
  const v = q.epoch && q.epoch !== "0" ? `${q.epoch}:${version}` : version;
  const m = /(\d+)/.exec(q.distro ?? "");
  if (!m)
    return {
      ok: false,
      reason: `pkg:rpm/${ns} without a release in its distro qualifier (${JSON.stringify(q.distro ?? "")})`,
      ecosystem: base,
      name: p.name,
      version: v,
    };
  return version === ""
    ? { ok: false, reason: "the purl has no version" }
    : { ok: true, ecosystem: `${base}:${m[1]}`, name: p.name, version: v };
}
