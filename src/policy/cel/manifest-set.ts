// Vigil's own CEL functions over the whole manifest set, for policies that need other objects than the
// one under review (a namespace's NetworkPolicies). An admission policy in a cluster sees one object and
// these functions do not exist there: policies that call them are for `vigil policy check` only.
//
//   vigil.objects(apiVersion, kind, namespace) -> list: the objects of that kind in the set; namespace ''
//       means every namespace (and cluster-scoped objects). An object without metadata.namespace is in
//       `default`, where kubectl would create it.
//   vigil.selects(labelSelector, labels) -> bool: Kubernetes LabelSelector matching. A null selector
//       selects everything, as a NetworkPolicy's podSelector does when absent (it is not a pointer
//       there, so absent and {} are the same). A malformed selector or labels is an evaluation error.
import { CelScalar, celFunc, isCelList, isCelMap, listType, type CelFunc, type CelInput, type CelValue } from "@bufbuild/cel";
import type { KubeObject } from "../../manifest/manifests.ts";
import { matchesSelector, selectorProblem, type LabelSelector } from "../selectors.ts";
import { celValue } from "./values.ts";

interface ManifestSet {
  objects: readonly KubeObject[];
  /** Answers already converted for CEL, by query: a policy asks the same for every workload. */
  answers: Map<string, CelInput[]>;
}

let current: ManifestSet | undefined;

/** Runs `evaluate` with `objects` as the set vigil.objects answers from. */
export function withManifestSet<T>(objects: readonly KubeObject[], evaluate: () => T): T {
  const previous = current;
  current = { objects, answers: new Map() };
  try {
    return evaluate();
  } finally {
    current = previous;
  }
}

export const manifestSetFunctions: readonly CelFunc[] = [
  celFunc("vigil.objects", [CelScalar.STRING, CelScalar.STRING, CelScalar.STRING], listType(CelScalar.DYN), objectsOf),
  celFunc("vigil.selects", [CelScalar.DYN, CelScalar.DYN], CelScalar.BOOL, selects),
];

function objectsOf(apiVersion: string, kind: string, namespace: string): CelInput[] {
  // Fail closed: without a set, "no NetworkPolicies" would read as a finding about the cluster.
  if (!current) throw new Error("vigil.objects has no manifest set: it is only available in vigil policy check");
  const query = JSON.stringify([apiVersion, kind, namespace]);
  let answer = current.answers.get(query);
  if (!answer) {
    answer = current.objects
      .filter(
        (o) => o.apiVersion === apiVersion && o.kind === kind && (namespace === "" || (o.metadata?.namespace ?? "default") === namespace),
      )
      .map(celValue);
    current.answers.set(query, answer);
  }
  return answer;
}

function selects(selector: CelValue, labels: CelValue): boolean {
  return matchesSelector(labelSelector(selector), stringMap(labels, "labels"));
}

const selectorFields = new Set(["matchLabels", "matchExpressions"]);
const requirementFields = new Set(["key", "operator", "values"]);

/** The selector as matchesSelector takes it; undefined (everything) for null. */
function labelSelector(value: CelValue): LabelSelector | undefined {
  if (value === null) return undefined;
  const fields = fieldsOf(value, "the label selector", selectorFields);
  const selector: LabelSelector = {};
  const matchLabels = fields.get("matchLabels");
  if (matchLabels !== undefined && matchLabels !== null) selector.matchLabels = stringMap(matchLabels, "matchLabels");
  const matchExpressions = fields.get("matchExpressions");
  if (matchExpressions !== undefined && matchExpressions !== null) {
    selector.matchExpressions = listOf(matchExpressions, "matchExpressions").map((e, i) => requirement(e, `matchExpressions[${i}]`));
  }
  const problem = selectorProblem(selector);
  if (problem) throw new Error(`vigil.selects: ${problem}`);
  return selector;
}

type Requirement = NonNullable<LabelSelector["matchExpressions"]>[number];

function requirement(value: CelValue, where: string): Requirement {
  const fields = fieldsOf(value, where, requirementFields);
  const key = fields.get("key");
  const operator = fields.get("operator");
  const values = fields.get("values");
  if (typeof key !== "string") throw new Error(`vigil.selects: ${where}.key must be a string`);
  if (typeof operator !== "string") throw new Error(`vigil.selects: ${where}.operator must be a string`);
  const list = values === undefined || values === null ? [] : listOf(values, `${where}.values`);
  if (!list.every((v) => typeof v === "string")) throw new Error(`vigil.selects: ${where}.values must be strings`);
  // The API server refuses values with these operators; reading them as "ignored" would guess.
  if ((operator === "Exists" || operator === "DoesNotExist") && list.length > 0)
    throw new Error(`vigil.selects: ${where}: operator ${operator} takes no values`);
  // selectorProblem (in labelSelector) refuses an operator other than the four.
  return { key, operator: operator as Requirement["operator"], values: list as string[] };
}

/** A CEL map with string keys among `allowed`, as a JS map. */
function fieldsOf(value: CelValue, what: string, allowed: ReadonlySet<string>): Map<string, CelValue> {
  if (!isCelMap(value)) throw new Error(`vigil.selects: ${what} must be a map or null`);
  const fields = new Map<string, CelValue>();
  for (const [k, v] of value.entries()) {
    if (typeof k !== "string" || !allowed.has(k)) throw new Error(`vigil.selects: ${what} has an unknown field ${String(k)}`);
    fields.set(k, v);
  }
  return fields;
}

/** Labels: null (none) or a map of strings to strings. */
function stringMap(value: CelValue, what: string): Record<string, string> {
  if (value === null) return {};
  if (!isCelMap(value)) throw new Error(`vigil.selects: ${what} must be a map of strings or null`);
  // No prototype: a label named __proto__ or constructor is a label like any other.
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of value.entries()) {
    if (typeof k !== "string" || typeof v !== "string")
      throw new Error(`vigil.selects: ${what} must map strings to strings (${String(k)})`);
    out[k] = v;
  }
  return out;
}

function listOf(value: CelValue, what: string): CelValue[] {
  if (!isCelList(value)) throw new Error(`vigil.selects: ${what} must be a list`);
  return [...value];
}
