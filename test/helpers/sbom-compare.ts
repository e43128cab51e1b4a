// Comparing an inventory with a package manager's truth: keys "ecosystem:name@version" (Maven names
// as group/artifact, Python names normalised as PEP 503 says), recall and precision.
import { PackageURL } from "packageurl-js";
import type { Component } from "../../src/sbom/index.ts";
import { key } from "./sbom-targets.ts";

export function keyOf(c: Pick<Component, "ecosystem" | "name" | "version" | "purl">): string {
  if (c.ecosystem === "maven") {
    const p = PackageURL.fromString(c.purl);
    return key("maven", `${p.namespace}/${p.name}`, c.version);
  }
  if (c.ecosystem === "pypi") return key("pypi", c.name.toLowerCase().replace(/[-_.]+/g, "-"), c.version);
  return key(c.ecosystem, c.name, c.version);
}

export interface Score {
  recall: number;
  precision: number;
  missing: string[];
  extra: string[];
}

/** Recall and precision of `found` against `truth`, within the ecosystems the truth covers. */
export function score(found: Iterable<string>, truth: Set<string>): Score {
  const ecosystems = new Set([...truth].map((k) => k.slice(0, k.indexOf(":"))));
  const got = new Set([...found].filter((k) => ecosystems.has(k.slice(0, k.indexOf(":")))));
  const hits = [...got].filter((k) => truth.has(k)).length;
  return {
    recall: truth.size === 0 ? 1 : hits / truth.size,
    precision: got.size === 0 ? (truth.size === 0 ? 1 : 0) : hits / got.size,
    missing: [...truth].filter((k) => !got.has(k)),
    extra: [...got].filter((k) => !truth.has(k)),
  };
}
