// SPDX 2.3 JSON. Each component is a package with its purl as a PACKAGE-MANAGER external reference
// (and CPEs as SECURITY references), its declared license when it is a valid SPDX expression
// (NOASSERTION otherwise: SPDX forbids free text there), and where it was found in the comment; the
// document DESCRIBES the target, which CONTAINS every package.
import { createHash, randomUUID } from "node:crypto";
import * as SPDX from "@cyclonedx/cyclonedx-library/SPDX";
import { isSpdxExpression } from "./cyclonedx.ts";
import type { Component, Inventory } from "./model.ts";

export function toSpdx(inventory: Inventory, version: string, timestamp = new Date()): string {
  const created = timestamp.toISOString().replace(/\.\d{3}Z$/, "Z");
  const target = "SPDXRef-DocumentRoot";
  const packages = inventory.components.map((c, i) => spdxPackage(c, i));
  const doc = {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: inventory.target.name,
    documentNamespace: `https://vigil.dev/spdx/${encodeURIComponent(inventory.target.name)}-${randomUUID()}`,
    creationInfo: { created, creators: [`Tool: vigil-${version}`] },
    packages: [
      {
        SPDXID: target,
        name: inventory.target.name,
        ...(inventory.target.digest && { versionInfo: inventory.target.digest }),
        downloadLocation: "NOASSERTION",
        filesAnalyzed: false,
        primaryPackagePurpose: inventory.target.kind === "directory" ? "FILE" : "CONTAINER",
        licenseConcluded: "NOASSERTION",
        licenseDeclared: "NOASSERTION",
        copyrightText: "NOASSERTION",
      },
      ...(inventory.os
        ? [
            {
              SPDXID: "SPDXRef-OperatingSystem",
              name: inventory.os.id,
              ...(inventory.os.versionId && { versionInfo: inventory.os.versionId }),
              downloadLocation: "NOASSERTION",
              filesAnalyzed: false,
              primaryPackagePurpose: "OPERATING_SYSTEM",
              licenseConcluded: "NOASSERTION",
              licenseDeclared: "NOASSERTION",
              copyrightText: "NOASSERTION",
            },
          ]
        : []),
      ...packages,
    ],
    relationships: [
      { spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: target },
      ...(inventory.os ? [{ spdxElementId: target, relationshipType: "CONTAINS", relatedSpdxElement: "SPDXRef-OperatingSystem" }] : []),
      ...packages.map((p) => ({ spdxElementId: target, relationshipType: "CONTAINS", relatedSpdxElement: p.SPDXID })),
    ],
  };
  return JSON.stringify(doc, null, 2) + "\n";
}

function spdxPackage(c: Component, index: number) {
  const license = spdxLicense(c.licenses);
  const location = c.locations.map((l) => (l.layer ? `${l.path} (layer ${l.layer})` : l.path)).join(", ");
  return {
    SPDXID: `SPDXRef-Package-${c.ecosystem}-${index}-${createHash("sha256").update(c.purl).digest("hex").slice(0, 12)}`,
    name: c.name,
    versionInfo: c.version,
    downloadLocation: "NOASSERTION",
    filesAnalyzed: false,
    ...(c.source && { sourceInfo: `built from source package ${c.source.name}${c.source.version ? ` ${c.source.version}` : ""}` }),
    licenseConcluded: "NOASSERTION",
    licenseDeclared: license,
    copyrightText: "NOASSERTION",
    comment: `found by ${c.foundBy} at ${location}`,
    primaryPackagePurpose: "LIBRARY",
    externalRefs: [
      { referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: c.purl },
      ...(c.cpes ?? []).map((cpe) => ({
        referenceCategory: "SECURITY",
        referenceType: cpe.startsWith("cpe:2.3:") ? "cpe23Type" : "cpe22Type",
        referenceLocator: cpe,
      })),
    ],
  };
}

/** The licenses as one SPDX expression when each is one; else NOASSERTION. */
function spdxLicense(licenses: string[] | undefined): string {
  if (!licenses || licenses.length === 0) return "NOASSERTION";
  const valid = licenses.every((l) => SPDX.isSupportedSpdxId(l) || isSpdxExpression(l) || /^LicenseRef-[A-Za-z0-9.-]+$/.test(l));
  if (!valid) return "NOASSERTION";
  return licenses.length === 1 ? licenses[0]! : licenses.map((l) => (/\s/.test(l) ? `(${l})` : l)).join(" AND ");
}
