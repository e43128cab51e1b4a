// Package URLs (purl-spec) through packageurl-js, with the qualifiers OSV's tools read for OS packages.
import { PackageURL } from "packageurl-js";
import type { OsRelease } from "./model.ts";

export function purl(
  type: string,
  namespace: string | undefined,
  name: string,
  version: string | undefined,
  qualifiers?: Record<string, string | undefined>,
): string {
  const present = Object.fromEntries(
    Object.entries(qualifiers ?? {}).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ""),
  );
  return new PackageURL(
    type,
    namespace,
    name,
    version || undefined,
    Object.keys(present).length > 0 ? present : undefined,
    undefined,
  ).toString();
}

/** "debian-12": the distro qualifier of deb and rpm purls. */
export function distroQualifier(os: OsRelease | undefined): string | undefined {
  if (!os) return undefined;
  return os.versionId ? `${os.id}-${os.versionId}` : os.versionCodename ? `${os.id}-${os.versionCodename}` : undefined;
}
