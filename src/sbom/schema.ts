// JSON Schema validation of SBOMs against their official schemas: CycloneDX 1.4–1.7 (draft-07, as
// @cyclonedx/cyclonedx-library ships them, with the SPDX license list and JSF they reference) and
// SPDX 2.3 (2019-09, the SPDX project's schema for 2.3 documents, kept in src/sbom/schema/). The
// first error is reported with the JSON path of the field it is about.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import Ajv2019Module from "ajv/dist/2019.js";
import addFormatsModule from "ajv-formats";
import addDraft2019FormatsModule from "ajv-formats-draft2019";

const require = createRequire(import.meta.url);
const CYCLONEDX_SCHEMAS = join(dirname(require.resolve("@cyclonedx/cyclonedx-library/package.json")), "res", "schema");
export const CYCLONEDX_VERSIONS = ["1.4", "1.5", "1.6", "1.7"] as const;

// These packages are CommonJS with a default export; under ESM the class is on .default.
const Ajv2019 = (Ajv2019Module as unknown as { default: typeof Ajv }).default;
const addFormats = (addFormatsModule as unknown as { default: (ajv: Ajv) => void }).default;
const addDraft2019Formats =
  (addDraft2019FormatsModule as unknown as { default?: (ajv: Ajv) => void }).default ??
  (addDraft2019FormatsModule as unknown as (ajv: Ajv) => void);

const compiled = new Map<string, ValidateFunction>();

function cyclonedxSchema(file: string): Record<string, unknown> {
  // The library names its copies *.SNAPSHOT.schema.json and their references follow; the $ids do not.
  return JSON.parse(readFileSync(join(CYCLONEDX_SCHEMAS, file), "utf8").replaceAll(".SNAPSHOT.schema.json", ".schema.json"));
}

function withFormats(ajv: Ajv): Ajv {
  addFormats(ajv);
  addDraft2019Formats(ajv);
  // ajv-formats-draft2019 refuses IRIs RFC 3987 allows ("urn:cdx:<uuid>/1#ref", as CycloneDX's own
  // valid cases use): checked here by the RFC's character rules instead.
  ajv.addFormat("iri-reference", isIriReference);
  ajv.addFormat("iri", (s: string) => /^[A-Za-z][A-Za-z0-9+.-]*:/.test(s) && isIriReference(s));
  return ajv;
}

/** RFC 3987 IRI-reference, by what it may not contain: spaces, controls, <>"{}|\^`, bad %-escapes, a bad scheme. */
export function isIriReference(s: string): boolean {
  if (/[\s<>"{}|\\^`\u0000-\u001f\u007f]/.test(s)) return false;
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) return false;
  const colon = s.search(/[:/?#]/);
  return colon < 0 || s[colon] !== ":" || /^[A-Za-z][A-Za-z0-9+.-]*$/.test(s.slice(0, colon));
}

export function cyclonedxValidator(version: (typeof CYCLONEDX_VERSIONS)[number]): ValidateFunction {
  const key = `cyclonedx-${version}`;
  let validate = compiled.get(key);
  if (!validate) {
    const ajv = withFormats(new Ajv({ strict: false, allErrors: false, validateSchema: false }));
    for (const extra of ["spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json", "cryptography-defs.SNAPSHOT.schema.json"])
      ajv.addSchema(cyclonedxSchema(extra));
    validate = ajv.compile(cyclonedxSchema(`bom-${version}.SNAPSHOT.schema.json`));
    compiled.set(key, validate);
  }
  return validate;
}

export function spdxValidator(): ValidateFunction {
  let validate = compiled.get("spdx-2.3");
  if (!validate) {
    const ajv = withFormats(new Ajv2019({ strict: false, allErrors: false, validateSchema: false }));
    validate = ajv.compile(JSON.parse(readFileSync(join(import.meta.dirname, "schema", "spdx-2.3.schema.json"), "utf8")));
    compiled.set("spdx-2.3", validate);
  }
  return validate;
}

/** "components[3].licenses[0].license.id: must be equal to one of the allowed values" */
export function describeSchemaError(error: ErrorObject | undefined): string {
  if (!error) return "does not match the schema";
  const path = error.instancePath
    .split("/")
    .slice(1)
    .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");
  const extra =
    error.keyword === "additionalProperties"
      ? ` (${JSON.stringify((error.params as { additionalProperty?: string }).additionalProperty)})`
      : error.keyword === "enum"
        ? ""
        : "";
  return `${path || "(document)"}: ${error.message ?? "does not match the schema"}${extra}`;
}
