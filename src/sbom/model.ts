// The component model every cataloger produces and every writer and reader shares. It is what the
// vulnerability matcher consumes: a purl (with the distribution qualifiers OSV's tools expect for OS
// packages), the ecosystem, the source package a distribution's advisories name, the OS release, and
// where the component was found (the layer that introduced it and the path of the evidence).

/** Where a component's evidence is: the layer that introduced it (images only) and the path in the root. */
export interface Location {
  /** Digest of the layer (its diff_id for images, as syft reports), absent for directories and SBOMs. */
  layer?: string;
  path: string;
}

/** /etc/os-release (or its fallbacks) of the scanned root: which distribution's advisories apply. */
export interface OsRelease {
  /** ID, e.g. "debian", "alpine", "rhel". */
  id: string;
  /** VERSION_ID, e.g. "12", "3.20.1". */
  versionId?: string;
  versionCodename?: string;
  prettyName?: string;
  idLike?: string[];
  cpe?: string;
}

export type Ecosystem = "deb" | "apk" | "rpm" | "npm" | "pypi" | "golang" | "maven" | "cargo" | "gem" | "composer" | "nuget";

export interface SourcePackage {
  name: string;
  version?: string;
}

export interface Component {
  name: string;
  version: string;
  ecosystem: Ecosystem;
  /** Package URL (purl-spec), made with packageurl-js. */
  purl: string;
  /** CPEs only where the package's own metadata states one. */
  cpes?: string[];
  /** Licenses as the package declares them: each an SPDX expression, or the text given when it is not one. */
  licenses?: string[];
  /** dpkg Source, rpm sourcerpm, apk origin. */
  source?: SourcePackage;
  /** OS packages: the release they belong to. */
  os?: OsRelease;
  /** The cataloger that found it (e.g. "dpkg-db", "npm-package-lock"). */
  foundBy: string;
  /** Where it was found: the first entry is the evidence of the layer that introduced it. */
  locations: Location[];
  /** Dependency scope where the manifest says it (npm/poetry dev dependencies). */
  scope?: "required" | "optional";
}

/** What generating (or reading) an SBOM yields. */
export interface Inventory {
  /** The target as the user named it, and what it resolved to. */
  target: Target;
  os?: OsRelease;
  components: Component[];
  /** Things that could not be read, each naming the layer and path; never silently dropped. */
  warnings: string[];
}

export interface Target {
  kind: "image" | "oci-layout" | "docker-archive" | "directory" | "sbom";
  name: string;
  /** Manifest digest of an image. */
  digest?: string;
  /** The layers' diff_ids, in order, for images. */
  layers?: string[];
}
