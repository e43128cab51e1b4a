// Writes src/policy/schema/kubernetes-v1.37.json: the OpenAPI schema of the built-in kinds the policy
// gate knows (src/manifest/resources.ts), reduced to what validation needs (field types, required fields,
// maps and lists, fields whose contents are free), from Kubernetes' own published OpenAPI v3 documents
// (api/openapi-spec/v3 in the k8s.io/kubernetes module, at the version tools/kube/go.mod pins).
// Run it after changing that version: `node scripts/policy-schema.ts`. The output is committed, so the
// gate validates offline against a pinned schema.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { builtInTypes } from "../src/manifest/resources.ts";
import { pinnedVersion } from "./kube-build.ts";

type OpenApi = Record<string, any>;
/** "s" string, "y" base64 bytes, "i" integer, "n" number, "b" boolean, "ios" int or string, "q" quantity, "any", "#Name"
 *  a definition, { a: T } a list, { m: T } a map with string keys. */
export type FieldType = string | { a: FieldType } | { m: FieldType };
export interface Definition {
  /** Fields, by name. */
  p: Record<string, FieldType>;
  /** Required fields. */
  r?: string[];
  /** Unknown fields are kept (x-kubernetes-preserve-unknown-fields). */
  u?: 1;
}

const version = pinnedVersion("kube", "k8s.io/kubernetes");
const modCache = execFileSync("go", ["env", "GOMODCACHE"], { encoding: "utf8" }).trim();
const specDir = join(modCache, `k8s.io/kubernetes@${version}`, "api/openapi-spec/v3");

const schemas: Record<string, OpenApi> = {};
for (const file of readdirSync(specDir).filter((f) => f.endsWith(".json"))) {
  Object.assign(schemas, JSON.parse(readFileSync(join(specDir, file), "utf8")).components?.schemas ?? {});
}

const kinds: Record<string, string> = {};
for (const [name, schema] of Object.entries(schemas)) {
  for (const gvk of schema["x-kubernetes-group-version-kind"] ?? []) {
    const key = `${gvk.group ? `${gvk.group}/` : ""}${gvk.version} ${gvk.kind}`;
    if (builtInTypes().some((t) => `${t.group ? `${t.group}/` : ""}${t.version} ${t.kind}` === key) && !name.includes(".meta.v1."))
      kinds[key] = name;
  }
}

const definitions: Record<string, Definition> = {};
const special: Record<string, FieldType> = {
  "io.k8s.apimachinery.pkg.util.intstr.IntOrString": "ios",
  "io.k8s.apimachinery.pkg.api.resource.Quantity": "q",
  "io.k8s.apimachinery.pkg.apis.meta.v1.Time": "s",
  "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": "s",
  "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": "any",
  "io.k8s.apimachinery.pkg.runtime.RawExtension": "any",
  "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON": "any",
  "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray": "any",
  "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool": "any",
  "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray": "any",
};

function typeOf(schema: OpenApi): FieldType {
  const ref: string | undefined = schema.$ref ?? schema.allOf?.[0]?.$ref;
  if (ref) return refType(ref.replace("#/components/schemas/", ""));
  if (schema["x-kubernetes-preserve-unknown-fields"] && !schema.properties) return "any";
  if (schema["x-kubernetes-int-or-string"] || schema.format === "int-or-string") return "ios";
  switch (schema.type) {
    case "string":
      return schema.format === "byte" ? "y" : "s";
    case "integer":
      return "i";
    case "number":
      return "n";
    case "boolean":
      return "b";
    case "array":
      return { a: schema.items ? typeOf(schema.items) : "any" };
    case "object":
      return schema.additionalProperties && typeof schema.additionalProperties === "object"
        ? { m: typeOf(schema.additionalProperties) }
        : "any";
    default:
      return "any";
  }
}

function refType(name: string): FieldType {
  if (special[name]) return special[name];
  if (!definitions[name]) {
    const schema = schemas[name];
    if (!schema) return "any";
    if (schema.type !== "object" || !schema.properties) return typeOf({ ...schema, $ref: undefined, allOf: undefined });
    const definition: Definition = { p: {} };
    definitions[name] = definition;
    for (const [field, fieldSchema] of Object.entries<OpenApi>(schema.properties)) definition.p[field] = typeOf(fieldSchema);
    if (schema.required?.length) definition.r = schema.required;
    if (schema["x-kubernetes-preserve-unknown-fields"]) definition.u = 1;
  }
  return `#${name}`;
}

for (const name of Object.values(kinds)) refType(name);
const out = join(import.meta.dirname, "../src/policy/schema/kubernetes-v1.37.json");
writeFileSync(out, JSON.stringify({ version, kinds, definitions }) + "\n");
console.log(`${out}: ${Object.keys(kinds).length} kinds, ${Object.keys(definitions).length} definitions`);
