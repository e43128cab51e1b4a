// CycloneDX 1.6 JSON through @cyclonedx/cyclonedx-library. Each component carries its purl (with the
// distro qualifiers OSV's tools read), its CPEs when the package gave one, its licenses (an SPDX id, an
// expression, or a name), and as properties what CycloneDX has no field for: where it was found (layer
// and path, numbered as syft numbers them), the cataloger, the source package and the OS release.
// By subpath: the package's index also loads its validators (Ajv and every schema), which writing does not need.
import * as Enums from "@cyclonedx/cyclonedx-library/Enums";
import * as Models from "@cyclonedx/cyclonedx-library/Models";
import * as SPDX from "@cyclonedx/cyclonedx-library/SPDX";
import * as Serialize from "@cyclonedx/cyclonedx-library/Serialize";
import * as Spec from "@cyclonedx/cyclonedx-library/Spec";
import type { Component, Inventory } from "./model.ts";

export const PROPERTY = {
  foundBy: "vigil:package:foundBy",
  ecosystem: "vigil:package:ecosystem",
  sourceName: "vigil:package:sourceName",
  sourceVersion: "vigil:package:sourceVersion",
  distroId: "vigil:distro:id",
  distroVersionId: "vigil:distro:versionID",
  location: (i: number, field: "path" | "layerID") => `vigil:location:${i}:${field}`,
} as const;

export function toCycloneDx(inventory: Inventory, version: string, timestamp = new Date()): string {
  const bom = new Models.Bom();
  bom.metadata.timestamp = timestamp;
  bom.metadata.tools.components.add(new Models.Component(Enums.ComponentType.Application, "vigil", { version, group: "vigil.dev" }));
  bom.metadata.component = new Models.Component(targetType(inventory), inventory.target.name, {
    bomRef: "target",
    ...(inventory.target.digest && { version: inventory.target.digest }),
  });
  if (inventory.os) {
    bom.components.add(
      new Models.Component(Enums.ComponentType.OperatingSystem, inventory.os.id, {
        bomRef: `os:${inventory.os.id}`,
        ...(inventory.os.versionId && { version: inventory.os.versionId }),
        ...(inventory.os.cpe && { cpe: inventory.os.cpe }),
        ...(inventory.os.prettyName && { description: inventory.os.prettyName }),
      }),
    );
  }
  inventory.components.forEach((c, i) => bom.components.add(component(c, i)));
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6));
  return serializer.serialize(bom, { space: 2, sortLists: false });
}

function targetType(inventory: Inventory): Enums.ComponentType {
  return inventory.target.kind === "directory" ? Enums.ComponentType.File : Enums.ComponentType.Container;
}

function component(c: Component, index: number): Models.Component {
  const properties = new Models.PropertyRepository();
  const add = (name: string, value: string | undefined) => value !== undefined && properties.add(new Models.Property(name, value));
  add(PROPERTY.foundBy, c.foundBy);
  add(PROPERTY.ecosystem, c.ecosystem);
  add(PROPERTY.sourceName, c.source?.name);
  add(PROPERTY.sourceVersion, c.source?.version);
  add(PROPERTY.distroId, c.os?.id);
  add(PROPERTY.distroVersionId, c.os?.versionId);
  c.locations.forEach((l, i) => {
    add(PROPERTY.location(i, "path"), l.path);
    add(PROPERTY.location(i, "layerID"), l.layer);
  });
  const licenses = new Models.LicenseRepository();
  for (const license of c.licenses ?? []) licenses.add(licenseOf(license));
  return new Models.Component(Enums.ComponentType.Library, c.name, {
    bomRef: `${c.purl}#${index}`,
    version: c.version,
    purl: c.purl,
    ...(c.cpes?.[0] && { cpe: c.cpes[0] }),
    ...(c.scope && { scope: c.scope === "optional" ? Enums.ComponentScope.Optional : Enums.ComponentScope.Required }),
    licenses,
    properties,
  });
}

/** A known SPDX id as an id, a compound expression as an expression, anything else by name. */
function licenseOf(text: string): Models.License {
  if (SPDX.isSupportedSpdxId(text)) return new Models.SpdxLicense(text);
  const fixed = SPDX.fixupSpdxId(text);
  if (fixed) return new Models.SpdxLicense(fixed);
  if (isSpdxExpression(text)) return new Models.LicenseExpression(text);
  return new Models.NamedLicense(text);
}

/** A compound expression whose every id is a known SPDX id (or LicenseRef-), per SPDX annex D's grammar. */
export function isSpdxExpression(text: string): boolean {
  if (!/\s(AND|OR|WITH)\s/.test(text)) return false;
  const tokens = text.replace(/[()]/g, " ").split(/\s+/).filter(Boolean);
  return tokens.every(
    (t, i) =>
      ["AND", "OR", "WITH"].includes(t) ||
      SPDX.isSupportedSpdxId(t.replace(/\+$/, "")) ||
      /^LicenseRef-[A-Za-z0-9.-]+$/.test(t) ||
      (tokens[i - 1] === "WITH" && /^[A-Za-z0-9.-]+$/.test(t)),
  );
}
