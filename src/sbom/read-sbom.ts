// SBOMs made by another tool (or by Vigil): CycloneDX 1.4–1.7 JSON and SPDX 2.3 JSON, validated against
// their official schemas first. A document that does not validate is bad input (exit 2) naming the
// field; one that does is read into the same components Vigil generates: purl, version, ecosystem,
// licenses, CPEs, and the locations and source package where the producer recorded them (Vigil's and
// syft's properties).
import { InputError } from "../core/errors.ts";
import { readInputFile } from "../core/input-file.ts";
import { PackageURL } from "packageurl-js";
import type { Component, Ecosystem, Inventory, Location, OsRelease } from "./model.ts";
import { CYCLONEDX_VERSIONS, cyclonedxValidator, describeSchemaError, spdxValidator } from "./schema.ts";

const MAX_SBOM_BYTES = 512 << 20;
const MAX_NESTING = 64;

const ECOSYSTEMS: Record<string, Ecosystem> = {
  deb: "deb",
  apk: "apk",
  rpm: "rpm",
  npm: "npm",
  pypi: "pypi",
  golang: "golang",
  maven: "maven",
  cargo: "cargo",
  gem: "gem",
  composer: "composer",
  nuget: "nuget",
};

export function readSbomFile(file: string): Inventory {
  const bytes = readInputFile(file, "the SBOM", MAX_SBOM_BYTES);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new InputError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  return readSbom(doc, file);
}

export function readSbom(doc: unknown, file: string): Inventory {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc))
    throw new InputError(`${file}: not an SBOM (a JSON object is expected)`);
  const record = doc as Record<string, unknown>;
  if (record.bomFormat === "CycloneDX") return readCycloneDx(record, file);
  if (typeof record.spdxVersion === "string") return readSpdx(record, file);
  throw new InputError(`${file}: not a CycloneDX (bomFormat) or SPDX (spdxVersion) JSON document`);
}

function readCycloneDx(doc: Record<string, unknown>, file: string): Inventory {
  const version = doc.specVersion;
  if (!CYCLONEDX_VERSIONS.includes(version as (typeof CYCLONEDX_VERSIONS)[number])) {
    throw new InputError(
      `${file}: specVersion: CycloneDX ${JSON.stringify(version)} is not supported (${CYCLONEDX_VERSIONS.join(", ")} are)`,
    );
  }
  const validate = cyclonedxValidator(version as (typeof CYCLONEDX_VERSIONS)[number]);
  if (!validate(doc)) throw new InputError(`${file}: not valid CycloneDX ${version}: ${describeSchemaError(validate.errors?.[0])}`);
  const components: Component[] = [];
  let os: OsRelease | undefined;
  const walk = (list: unknown, depth: number) => {
    if (!Array.isArray(list) || depth > MAX_NESTING) return;
    for (const c of list as Record<string, unknown>[]) {
      if (c.type === "operating-system" && typeof c.name === "string")
        os = { id: c.name.toLowerCase(), ...(typeof c.version === "string" && { versionId: c.version }) };
      const component = fromCycloneDx(c);
      if (component) components.push(component);
      walk(c.components, depth + 1);
    }
  };
  walk(doc.components, 0);
  const metadata = (doc.metadata ?? {}) as Record<string, unknown>;
  const subject = (metadata.component ?? {}) as Record<string, unknown>;
  return {
    target: { kind: "sbom", name: typeof subject.name === "string" ? subject.name : file },
    ...(os && { os }),
    components: components.map((c) =>
      (c.ecosystem === "deb" || c.ecosystem === "apk" || c.ecosystem === "rpm") && os && !c.os ? { ...c, os } : c,
    ),
    warnings: [],
  };
}

function fromCycloneDx(c: Record<string, unknown>): Component | undefined {
  const parsed = parsePurl(c.purl);
  if (!parsed) return undefined;
  const props = new Map<string, string>();
  for (const p of Array.isArray(c.properties) ? (c.properties as { name?: unknown; value?: unknown }[]) : []) {
    if (typeof p.name === "string" && typeof p.value === "string") props.set(p.name, p.value);
  }
  const locations: Location[] = [];
  for (let i = 0; ; i++) {
    const path = props.get(`vigil:location:${i}:path`) ?? props.get(`syft:location:${i}:path`);
    if (path === undefined) break;
    const layer = props.get(`vigil:location:${i}:layerID`) ?? props.get(`syft:location:${i}:layerID`);
    locations.push({ path, ...(layer && { layer }) });
  }
  const licenses: string[] = [];
  for (const l of Array.isArray(c.licenses) ? (c.licenses as Record<string, unknown>[]) : []) {
    const license = l.license as Record<string, unknown> | undefined;
    const text =
      typeof l.expression === "string"
        ? l.expression
        : typeof license?.id === "string"
          ? license.id
          : typeof license?.name === "string"
            ? license.name
            : undefined;
    if (text) licenses.push(text);
  }
  const sourceName = props.get("vigil:package:sourceName");
  const sourceVersion = props.get("vigil:package:sourceVersion");
  const upstream = parsed.purl.qualifiers?.upstream;
  const source = sourceName
    ? { name: sourceName, ...(sourceVersion && { version: sourceVersion }) }
    : upstream
      ? upstreamSource(upstream)
      : undefined;
  const distroId = props.get("vigil:distro:id");
  return {
    name:
      typeof c.name === "string"
        ? parsed.purl.namespace && parsed.ecosystem === "npm"
          ? `${parsed.purl.namespace}/${parsed.purl.name}`
          : c.name
        : parsed.purl.name,
    version: typeof c.version === "string" ? c.version : (parsed.purl.version ?? ""),
    ecosystem: parsed.ecosystem,
    purl: parsed.text,
    ...(typeof c.cpe === "string" && { cpes: [c.cpe] }),
    ...(licenses.length > 0 && { licenses }),
    ...(source && { source }),
    ...(distroId && {
      os: { id: distroId, ...(props.get("vigil:distro:versionID") && { versionId: props.get("vigil:distro:versionID")! }) },
    }),
    ...(c.scope === "optional" && { scope: "optional" as const }),
    foundBy: props.get("vigil:package:foundBy") ?? "sbom",
    locations,
  };
}

function readSpdx(doc: Record<string, unknown>, file: string): Inventory {
  if (doc.spdxVersion !== "SPDX-2.3")
    throw new InputError(`${file}: spdxVersion: ${JSON.stringify(doc.spdxVersion)} is not supported (SPDX-2.3 is)`);
  const validate = spdxValidator();
  if (!validate(doc)) throw new InputError(`${file}: not valid SPDX 2.3: ${describeSchemaError(validate.errors?.[0])}`);
  const components: Component[] = [];
  let os: OsRelease | undefined;
  for (const p of (doc.packages ?? []) as Record<string, unknown>[]) {
    if (p.primaryPackagePurpose === "OPERATING_SYSTEM" && typeof p.name === "string")
      os = { id: p.name.toLowerCase(), ...(typeof p.versionInfo === "string" && { versionId: p.versionInfo }) };
    const refs = (p.externalRefs ?? []) as Record<string, unknown>[];
    const parsed = parsePurl(refs.find((r) => r.referenceType === "purl")?.referenceLocator);
    if (!parsed) continue;
    const cpes = refs
      .filter((r) => typeof r.referenceType === "string" && r.referenceType.startsWith("cpe"))
      .map((r) => String(r.referenceLocator));
    const declared =
      typeof p.licenseDeclared === "string" && !["NOASSERTION", "NONE"].includes(p.licenseDeclared) ? p.licenseDeclared : undefined;
    const upstream = parsed.purl.qualifiers?.upstream;
    const source = upstream ? upstreamSource(upstream) : undefined;
    components.push({
      name: String(p.name),
      version: typeof p.versionInfo === "string" ? p.versionInfo : (parsed.purl.version ?? ""),
      ecosystem: parsed.ecosystem,
      purl: parsed.text,
      ...(cpes.length > 0 && { cpes }),
      ...(declared && { licenses: [declared] }),
      ...(source && { source }),
      foundBy: "sbom",
      locations: [],
    });
  }
  return {
    target: { kind: "sbom", name: typeof doc.name === "string" ? doc.name : file },
    ...(os && { os }),
    components: components.map((c) => (["deb", "apk", "rpm"].includes(c.ecosystem) && os ? { ...c, os } : c)),
    warnings: [],
  };
}

function parsePurl(value: unknown): { purl: PackageURL; ecosystem: Ecosystem; text: string } | undefined {
  if (typeof value !== "string") return undefined;
  try {
    const purl = PackageURL.fromString(value);
    const ecosystem = ECOSYSTEMS[purl.type];
    return ecosystem ? { purl, ecosystem, text: purl.toString() } : undefined;
  } catch {
    return undefined;
  }
}

/** deb "upstream=src@1.2" or rpm "upstream=src-1.2-3.src.rpm". */
function upstreamSource(upstream: string): { name: string; version?: string } {
  const at = upstream.indexOf("@");
  if (at > 0) return { name: upstream.slice(0, at), version: upstream.slice(at + 1) };
  const rpm = /^(.+)-([^-]+-[^-]+)\.(?:no)?src\.rpm$/.exec(upstream);
  return rpm ? { name: rpm[1]!, version: rpm[2]! } : { name: upstream };
}
