// ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding (admissionregistration.k8s.io/v1),
// evaluated offline with the API server's semantics, for an object as it would be created.
// Policies are compiled once (every expression, with its position on error); evaluation is per
// binding × matching resource × param.
import { celMap, type CelInput } from "@bufbuild/cel";
import type { Check, CheckCode } from "../core/verdict.ts";
import { InputError } from "../core/errors.ts";
import { CelCompileError, CelCostError, CelEvalError, compileCel, type CelBudget, type CelProgram } from "./cel/compile.ts";
import { inApiServerWords } from "./cel/errors.ts";
import { celValue } from "./cel/values.ts";
import {
  typeCheck,
  typeCheckParsed,
  variableFieldType,
  type CelType,
  type Declarations,
  type Expected,
  type TypeCheckResult,
} from "./cel/typecheck.ts";
import { Lru } from "../core/lru.ts";
import { offlineAuthorizer } from "./cel/authorizer.ts";
import type { KubeObject, SourcedObject } from "../manifest/manifests.ts";
import type { ResourceType, ResourceTypes } from "../manifest/resources.ts";
import { matchesSelector, selectorProblem, type LabelSelector } from "./selectors.ts";

export const GATE = "policy";
/** The API server's per-evaluation runtime cost budget for a policy (RuntimeCELCostBudget). */
const EVALUATION_BUDGET = 10_000_000;
/** The API server's runtime cost limit for one expression (PerCallLimit). */
const PER_CALL_LIMIT = 1_000_000;
/** A messageExpression's result longer than this (bytes) is discarded (MaxEvaluatedMessageExpressionSizeBytes). */
const MAX_MESSAGE_BYTES = 5 * 1024;
/** The API server's words when a policy's budget runs out, and when one expression passes its limit. */
const OUT_OF_BUDGET = "validation failed due to running out of cost budget, no further validation rules will be run";
const PER_CALL_EXCEEDED = "operation cancelled: actual cost limit exceeded";
/** CEL's reserved words: the API server refuses them as variable names. */
const reservedWords = new Set([
  "false",
  "in",
  "null",
  "true",
  "as",
  "break",
  "const",
  "continue",
  "else",
  "for",
  "function",
  "if",
  "import",
  "let",
  "loop",
  "package",
  "namespace",
  "return",
  "var",
  "void",
  "while",
]);

type Action = "Deny" | "Warn" | "Audit";

interface Rule {
  apiGroups?: string[];
  apiVersions?: string[];
  operations?: string[];
  resources?: string[];
  resourceNames?: string[];
  scope?: "*" | "Cluster" | "Namespaced";
}

interface MatchResources {
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  resourceRules?: Rule[];
  excludeResourceRules?: Rule[];
  matchPolicy?: "Exact" | "Equivalent";
}

interface Named {
  name: string;
  program: CelProgram;
}

/** A variable, with what its value depends on besides the request: its expression and every one before it. */
interface Variable extends Named {
  sharedAs: string;
}

export interface CompiledPolicy {
  name: string;
  where: string;
  failurePolicy: "Fail" | "Ignore";
  paramKind?: { apiVersion: string; kind: string };
  match: MatchResources;
  matchConditions: Named[];
  variables: Variable[];
  validations: { program: CelProgram; message?: string; messageProgram?: CelProgram; reason: string }[];
  auditAnnotations: { key: string; program: CelProgram }[];
}

export interface CompiledBinding {
  name: string;
  where: string;
  policyName: string;
  paramRef?: { name?: string; namespace?: string; selector?: LabelSelector; parameterNotFoundAction?: "Allow" | "Deny" };
  match?: MatchResources;
  actions: Action[];
}

const celVariables = ["object", "oldObject", "request", "params", "namespaceObject", "variables", "authorizer"];

const at = (so: SourcedObject) => `${so.file}:${so.line}`;

/** What an expression of the policy may use, as the API server declares it when it creates the policy. */
interface ExpressionEnv {
  params: boolean;
  /** The types of the variables compiled so far, by name. */
  variables: Map<string, CelType>;
}

// Packs repeat expressions across policies (the pod spec, the container list): each is type-checked
// once per set of declarations it can see. Bounded, as the compiled programs are.
const typeChecked = new Lru<string, TypeCheckResult>(2000);

/** What a type check's outcome depends on: the expression, what it must return, and the declarations
 *  it can reach (the variables it names, with their types). */
function typeCheckKey(expression: string, d: Declarations, expected: Expected): string {
  const named = d.variables ? [...d.variables].filter(([name]) => new RegExp(`\\b${name}\\b`).test(expression)) : undefined;
  return JSON.stringify([expression, expected, d.params, d.authorizer, named ?? null, d.variables ? [...d.variables.keys()].length : -1]);
}

/**
 * Compiles one expression of a policy after the API server's type check at creation (typecheck.ts): a
 * policy the API server would refuse is an input error naming the policy, field, position and reason.
 * `expected` is the type the field must have; `scope` says which optional names are declared there.
 */
function compileExpression(
  expression: unknown,
  policy: string,
  field: string,
  env: ExpressionEnv,
  expected: Expected,
  scope: { authorizer: boolean; variables: boolean } = { authorizer: true, variables: true },
  variableName?: string,
): CelProgram {
  if (typeof expression !== "string" || expression.trim() === "")
    throw new InputError(`policy ${policy}: ${field} must be a CEL expression`);
  try {
    const declarations: Declarations = {
      params: env.params,
      authorizer: scope.authorizer,
      ...(scope.variables && { variables: env.variables }),
    };
    const key = typeCheckKey(expression, declarations, expected);
    let checked = typeChecked.get(key);
    const program = compileCel(expression, celVariables, (parsed, origin) => {
      checked ??= typeCheckParsed(expression, parsed, origin, declarations, expected);
    });
    if (!checked) checked = typeCheck(expression, declarations, expected);
    typeChecked.set(key, checked);
    const { type, problem } = checked;
    if (problem)
      throw new CelCompileError(
        problem.message,
        expression,
        problem.line === undefined ? undefined : { line: problem.line, column: problem.column ?? 0 },
      );
    if (variableName !== undefined) env.variables.set(variableName, variableFieldType(type));
    return program;
  } catch (e) {
    if (e instanceof CelCompileError) {
      const pos = e.line !== undefined ? ` at line ${e.line}, column ${e.column ?? 0}` : "";
      throw new InputError(`policy ${policy}: ${field} does not compile${pos}: ${e.message}\n  expression: ${expression}`);
    }
    throw e;
  }
}

function checkMatch(match: unknown, where: string): MatchResources {
  if (match === undefined || match === null) return {};
  if (typeof match !== "object") throw new InputError(`${where} must be a mapping`);
  const m = match as MatchResources;
  for (const field of ["namespaceSelector", "objectSelector"] as const) {
    const problem = selectorProblem(m[field]);
    if (problem) throw new InputError(`${where}.${field}: ${problem}`);
  }
  if (m.matchPolicy !== undefined && m.matchPolicy !== "Exact" && m.matchPolicy !== "Equivalent") {
    throw new InputError(`${where}.matchPolicy must be Exact or Equivalent`);
  }
  return m;
}

/** Compiles a ValidatingAdmissionPolicy; every error names the policy, the field and the expression. */
export function compilePolicy(so: SourcedObject): CompiledPolicy {
  const name = so.object.metadata?.name;
  if (!name) throw new InputError(`${at(so)}: ValidatingAdmissionPolicy has no metadata.name`);
  const spec = (so.object.spec ?? {}) as Record<string, any>;
  const where = `${at(so)} ValidatingAdmissionPolicy ${name}`;
  const failurePolicy = spec.failurePolicy ?? "Fail";
  if (failurePolicy !== "Fail" && failurePolicy !== "Ignore") throw new InputError(`${where}: failurePolicy must be Fail or Ignore`);
  const list = (field: string): any[] => {
    const v = spec[field] ?? [];
    if (!Array.isArray(v)) throw new InputError(`${where}: spec.${field} must be a list`);
    return v;
  };
  // Variables first: their types are what later expressions see as variables.NAME.
  const env: ExpressionEnv = { params: Boolean(spec.paramKind), variables: new Map() };
  const variables = withSharedKeys(
    list("variables").map((v, i) => {
      const variable = variableName(v?.name, name, i);
      return {
        name: variable,
        program: compileExpression(v?.expression, name, `spec.variables[${i}].expression`, env, "any", undefined, variable),
      };
    }),
  );
  const validations = list("validations").map((v, i) => ({
    program: compileExpression(v?.expression, name, `spec.validations[${i}].expression`, env, "bool"),
    ...(typeof v?.message === "string" ? { message: v.message } : {}),
    // The API server declares no authorizer for messages.
    ...(v?.messageExpression
      ? {
          messageProgram: compileExpression(v.messageExpression, name, `spec.validations[${i}].messageExpression`, env, "string", {
            authorizer: false,
            variables: true,
          }),
        }
      : {}),
    reason: typeof v?.reason === "string" ? v.reason : "Invalid",
  }));
  const auditAnnotations = list("auditAnnotations").map((a, i) => ({
    key: String(a?.key ?? ""),
    program: compileExpression(a?.valueExpression, name, `spec.auditAnnotations[${i}].valueExpression`, env, "string-or-null"),
  }));
  if (validations.length === 0 && auditAnnotations.length === 0) {
    throw new InputError(`${where}: has neither validations nor auditAnnotations`);
  }
  return {
    name,
    where,
    failurePolicy,
    ...(spec.paramKind ? { paramKind: spec.paramKind } : {}),
    match: checkMatch(spec.matchConstraints, `${where}: spec.matchConstraints`),
    // matchConditions are compiled without variables, as the API server compiles them.
    matchConditions: list("matchConditions").map((c, i) => ({
      name: String(c?.name ?? i),
      program: compileExpression(c?.expression, name, `spec.matchConditions[${i}].expression`, env, "bool", {
        authorizer: true,
        variables: false,
      }),
    })),
    variables,
    validations,
    auditAnnotations,
  };
}

/** A variable's name as the API server accepts it: a CEL identifier that is not a reserved word. */
function variableName(value: unknown, policy: string, i: number): string {
  const field = `spec.variables[${i}].name`;
  if (typeof value !== "string" || !/^[_a-zA-Z][_a-zA-Z0-9]*$/.test(value) || reservedWords.has(value)) {
    throw new InputError(`policy ${policy}: ${field}: Invalid value: ${JSON.stringify(value ?? null)}: must be a valid CEL identifier`);
  }
  return value;
}

const actions = new Set<Action>(["Deny", "Warn", "Audit"]);

export function compileBinding(so: SourcedObject): CompiledBinding {
  const name = so.object.metadata?.name;
  if (!name) throw new InputError(`${at(so)}: ValidatingAdmissionPolicyBinding has no metadata.name`);
  const spec = (so.object.spec ?? {}) as Record<string, any>;
  const where = `${at(so)} ValidatingAdmissionPolicyBinding ${name}`;
  if (typeof spec.policyName !== "string" || !spec.policyName) throw new InputError(`${where}: spec.policyName is required`);
  const validationActions: unknown[] = spec.validationActions ?? [];
  if (!Array.isArray(validationActions) || validationActions.length === 0 || !validationActions.every((a) => actions.has(a as Action))) {
    throw new InputError(`${where}: spec.validationActions must list Deny, Warn and/or Audit`);
  }
  const paramRef = spec.paramRef;
  if (paramRef) {
    const problem = selectorProblem(paramRef.selector);
    if (problem) throw new InputError(`${where}: spec.paramRef.selector: ${problem}`);
    if (!paramRef.name && !paramRef.selector) throw new InputError(`${where}: spec.paramRef needs name or selector`);
  }
  return {
    name,
    where,
    policyName: spec.policyName,
    ...(paramRef ? { paramRef } : {}),
    ...(spec.matchResources ? { match: checkMatch(spec.matchResources, `${where}: spec.matchResources`) } : {}),
    actions: validationActions as Action[],
  };
}

// ---------------------------------------------------------------------------------------------------
// Matching

function ruleMatches(rule: Rule, type: ResourceType, name: string | undefined, exact: boolean): boolean {
  const has = (list: string[] | undefined, v: string) => (list ?? []).some((x) => x === "*" || x === v);
  if (!has(rule.apiGroups, type.group)) return false;
  if (exact && !has(rule.apiVersions, type.version)) return false;
  if (!exact && (rule.apiVersions ?? []).length === 0) return false;
  if (!has(rule.operations, "CREATE")) return false;
  if (!(rule.resources ?? []).some((r) => r === "*" || r === "*/*" || r === type.resource)) return false;
  if (rule.resourceNames?.length && !(name && rule.resourceNames.includes(name))) return false;
  const scope = rule.scope ?? "*";
  return scope === "*" || (scope === "Namespaced") === type.namespaced;
}

export interface Target {
  so: SourcedObject;
  /** How checks name it (describeObject), made once for all the policies that look at it. */
  subject: string;
  type: ResourceType;
  /** The namespace object the API server would pass (null for cluster-scoped resources). */
  namespace: KubeObject | null;
}

/** Whether `m` selects the target. A binding's matchResources without resourceRules selects every
 *  resource its policy matches (a policy's matchConstraints must list them). */
function matches(m: MatchResources, t: Target, isBinding = false): boolean {
  if (!selectsResource(m, t, isBinding)) return false;
  // A Namespace is matched by its own labels; a cluster-scoped object by any namespaceSelector.
  const nsLabels = t.type.kind === "Namespace" && t.type.group === "" ? t.so.object.metadata?.labels : t.namespace?.metadata?.labels;
  if (t.namespace || t.type.kind === "Namespace") {
    if (!matchesSelector(m.namespaceSelector, nsLabels ?? {})) return false;
  }
  return matchesSelector(m.objectSelector, t.so.object.metadata?.labels ?? {});
}

/** Whether m's resource rules, less its exclusions, select the target. The answer is the same for
 *  every object of a type unless a rule names resources, so it is kept per type. */
function selectsResource(m: MatchResources, t: Target, isBinding: boolean): boolean {
  let byType = resourceSelections.get(m);
  if (!byType) resourceSelections.set(m, (byType = new Map()));
  const known = byType.get(t.type);
  if (known !== undefined) return known;
  const exact = m.matchPolicy === "Exact";
  const name = t.so.object.metadata?.name;
  const anyResource = isBinding && (m.resourceRules ?? []).length === 0;
  const selected =
    (anyResource || (m.resourceRules ?? []).some((r) => ruleMatches(r, t.type, name, exact))) &&
    !(m.excludeResourceRules ?? []).some((r) => ruleMatches(r, t.type, name, exact));
  const byName = [...(m.resourceRules ?? []), ...(m.excludeResourceRules ?? [])].some((r) => (r.resourceNames ?? []).length > 0);
  if (!byName) byType.set(t.type, selected);
  return selected;
}
const resourceSelections = new WeakMap<MatchResources, Map<ResourceType, boolean>>();

/**
 * CEL is pure: a variable whose expression, and every expression before it, is the same in two
 * policies has the same value for the same request and params. The packs' policies all start from the
 * same pod spec and container list, so each is computed once per resource instead of once per policy.
 * The key names each earlier variable too, so `variables.x` cannot mean two different things.
 */
function withSharedKeys(variables: Named[]): Variable[] {
  let key = "";
  return variables.map((v) => ({ ...v, sharedAs: (key += `${v.name}\u0000${v.program.expression}\u0000`) }));
}

// ---------------------------------------------------------------------------------------------------
// Evaluation

export interface EvaluationInput {
  types: ResourceTypes;
  /** Every object of the set, where params are looked up. */
  objects: readonly SourcedObject[];
}

function newRequest(t: Target): Record<string, unknown> {
  const { group, version, kind, resource } = t.type;
  const md = t.so.object.metadata ?? {};
  return {
    kind: { group, version, kind },
    resource: { group, version, resource },
    requestKind: { group, version, kind },
    requestResource: { group, version, resource },
    name: md.name ?? "",
    namespace: t.type.namespaced ? (md.namespace ?? "") : "",
    operation: "CREATE",
    userInfo: {},
    dryRun: false,
    options: { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1" },
  };
}

/** The set's objects by apiVersion and kind, and by namespace too, built once per set: a param lookup
 *  that scanned every manifest made the gate quadratic in the number of manifests. */
const objectsByKind = new WeakMap<readonly SourcedObject[], Map<string, KubeObject[]>>();

function objectsOfKind(objects: readonly SourcedObject[], apiVersion: string, kind: string, namespace: string | undefined): KubeObject[] {
  let index = objectsByKind.get(objects);
  if (!index) {
    index = new Map();
    for (const { object } of objects) {
      const ofKind = `${object.apiVersion} ${object.kind}`;
      for (const key of [ofKind, `${ofKind} ${object.metadata?.namespace ?? "default"}`])
        (index.get(key) ?? index.set(key, []).get(key)!).push(object);
    }
    objectsByKind.set(objects, index);
  }
  return index.get(`${apiVersion} ${kind}${namespace === undefined ? "" : ` ${namespace}`}`) ?? [];
}

/** Params for a binding and target: [] means none were found; [null] means there are none to use. */
function params(policy: CompiledPolicy, binding: CompiledBinding, t: Target, input: EvaluationInput): (KubeObject | null)[] {
  if (!policy.paramKind) return [null];
  // The API server evaluates such a binding with params null (the policy must allow for it).
  if (!binding.paramRef) return [null];
  const { apiVersion, kind } = policy.paramKind;
  const ref = binding.paramRef;
  const paramType = input.types.of({ apiVersion, kind });
  const namespace =
    ref.namespace ?? (paramType?.namespaced && t.type.namespaced ? (t.so.object.metadata?.namespace ?? "default") : undefined);
  return objectsOfKind(input.objects, apiVersion, kind, namespace).filter((o) =>
    ref.name ? o.metadata?.name === ref.name : matchesSelector(ref.selector, o.metadata?.labels ?? {}),
  );
}

/** The checks one binding of one policy produces for one target; [] when it does not apply. */
export function evaluateBinding(policy: CompiledPolicy, binding: CompiledBinding, t: Target, input: EvaluationInput): Check[] {
  if (!matches(policy.match, t) || (binding.match && !matches(binding.match, t, true))) return [];
  const { subject } = t;
  const { file, line } = t.so;
  const rule = policy.name;
  const blockStatus = binding.actions.includes("Deny") ? "fail" : "warn";
  const out = (status: Check["status"], code: CheckCode, message: string): Check => ({
    gate: GATE,
    rule,
    status,
    subject,
    message,
    code,
    location: { file, line },
  });

  const found = params(policy, binding, t, input);
  if (found.length === 0) {
    return binding.paramRef?.parameterNotFoundAction === "Deny"
      ? [
          out(
            blockStatus,
            "params-not-found",
            `no params of kind ${policy.paramKind!.kind} found for binding ${binding.name} (parameterNotFoundAction: Deny); add them to the manifests or the policy folder`,
          ),
        ]
      : [];
  }
  const checks: Check[] = [];
  for (const param of found) checks.push(...evaluateWith(policy, binding, requestContext(t, param), out, blockStatus));
  return checks;
}

type Out = (status: Check["status"], code: CheckCode, message: string) => Check;

/** A variable's outcome for one request and params, and the cost it was charged, shared between policies. */
interface SharedVariable {
  value?: unknown;
  error?: unknown;
  cost: number;
}

/** What every policy sees of one resource with one param: the CEL variables, converted once, and the
 *  variables computed so far. */
interface RequestContext {
  vars: Record<string, unknown>;
  known: Map<string, SharedVariable>;
}

const contexts = new WeakMap<Target, Map<KubeObject | null, RequestContext>>();

function requestContext(t: Target, param: KubeObject | null): RequestContext {
  let byParam = contexts.get(t);
  if (!byParam) contexts.set(t, (byParam = new Map()));
  let context = byParam.get(param);
  if (!context) {
    const vars = {
      object: celValue(t.so.object),
      oldObject: null,
      request: celValue(newRequest(t)),
      params: celValue(param),
      namespaceObject: celValue(t.namespace),
      authorizer: celValue(offlineAuthorizer),
    };
    byParam.set(param, (context = { vars, known: new Map() }));
  }
  return context;
}

function evaluateWith(
  policy: CompiledPolicy,
  binding: CompiledBinding,
  { vars: base, known }: RequestContext,
  out: Out,
  blockStatus: "fail" | "warn",
): Check[] {
  const budget: CelBudget = { remaining: EVALUATION_BUDGET };
  const failed = (what: string, e: unknown): Check[] => {
    const detail =
      e instanceof PerCallLimitError
        ? `exceeded the cost limit: expression '${e.expression}' resulted in error: ${PER_CALL_EXCEEDED}`
        : e instanceof CelCostError
          ? `exceeded the cost limit: ${OUT_OF_BUDGET}`
          : `failed: ${(e as Error).message}`;
    const status = policy.failurePolicy === "Fail" ? blockStatus : "warn";
    const code = e instanceof PerCallLimitError || e instanceof CelCostError ? "cost-limit-exceeded" : "evaluation-error";
    return [out(status, code, `${what} ${detail} (failurePolicy ${policy.failurePolicy})`)];
  };
  // A validation's own evaluation error: under failurePolicy Fail the API server denies with the
  // expression and cel-go's words for the error, reason Invalid; under Ignore it admits.
  const validationError = (i: number, e: unknown): Check[] => {
    if (!(e instanceof CelEvalError) || e instanceof CelCostError) return failed(`validation ${i}`, e);
    const detail = `expression '${e.expression}' resulted in error: ${inApiServerWords(e.message)}`;
    if (policy.failurePolicy === "Ignore")
      return [out("warn", "evaluation-error", `${detail} (failurePolicy Ignore: the API server admits it)`)];
    const prefix = blockStatus === "fail" ? "" : binding.actions.includes("Warn") ? "warning: " : "audit: ";
    return [out(blockStatus, "evaluation-error", `${prefix}${detail} (reason Invalid; binding ${binding.name})`)];
  };

  // matchConditions: any false skips the policy; otherwise an error applies failurePolicy.
  let conditionError: { name: string; error: unknown } | null = null;
  for (const c of policy.matchConditions) {
    try {
      if (run(c.program, base, budget) !== true) return [];
    } catch (e) {
      if (e instanceof CelCostError) return failed(`matchCondition ${c.name}`, e);
      conditionError ??= { name: c.name, error: e };
    }
  }
  if (conditionError) return failed(`matchCondition ${conditionError.name}`, conditionError.error);

  // Variables are computed in order, each seeing the ones before it; an error is kept and surfaces
  // only in an expression that uses the variable, as the API server's lazy evaluation does.
  // One map, filled as they are computed: while a variable is evaluated it holds exactly the ones
  // before it. Variable values are CEL values already: the map holds them as they are.
  const values = new Map<string, CelInput>();
  const errors = new Map<string, unknown>();
  // A CEL map over `values` as they fill: given the Map itself, @bufbuild/cel would wrap it anew on each access.
  const vars = { ...base, variables: celMap(values) };
  for (const v of policy.variables) {
    const outcome = sharedOutcome(v, vars, budget, known);
    if (outcome === "exhausted") return failed(`variable ${v.name}`, new CelCostError(OUT_OF_BUDGET, v.program.expression));
    if ("error" in outcome) errors.set(v.name, outcome.error);
    else values.set(v.name, outcome.value as CelInput);
  }
  const usesFailedVariable = (p: CelProgram) =>
    [...errors.keys()].find((name) => new RegExp(`\\bvariables\\s*\\.\\s*${name}\\b`).test(p.expression));

  const checks: Check[] = [];
  for (const [i, v] of policy.validations.entries()) {
    const broken = usesFailedVariable(v.program);
    if (broken) {
      checks.push(...failed(`validation ${i} (variable ${broken})`, errors.get(broken)));
      continue;
    }
    let ok: unknown;
    try {
      ok = run(v.program, vars, budget);
    } catch (e) {
      checks.push(...validationError(i, e));
      if (e instanceof CelCostError) break;
      continue;
    }
    if (ok === true) continue;
    if (ok !== false) {
      checks.push(...failed(`validation ${i}`, new Error(`expression returned ${typeof ok}, not bool`)));
      continue;
    }
    let message: string;
    try {
      message = validationMessage(v, vars, budget);
    } catch (e) {
      checks.push(...failed(`validation ${i} (messageExpression)`, e));
      break;
    }
    const prefix = blockStatus === "fail" ? "" : binding.actions.includes("Warn") ? "warning: " : "audit: ";
    checks.push(out(blockStatus, "policy-denied", `${prefix}${message} (reason ${v.reason}; binding ${binding.name})`));
  }
  const annotations = auditAnnotations(policy, vars, budget);
  if (typeof annotations !== "string") return [...checks, ...failed(`auditAnnotation ${annotations.key}`, annotations.error)];
  if (checks.length === 0) checks.push(out("pass", "policy-passed", `passes (binding ${binding.name})`));
  return annotations ? checks.map((c) => ({ ...c, message: `${c.message}; audit annotations: ${annotations}` })) : checks;
}

/** One expression past the API server's per-expression limit: an evaluation error of that expression
 *  (failurePolicy decides), while the policy's other expressions still run on what budget is left. */
class PerCallLimitError extends Error {
  readonly expression: string;
  constructor(expression: string) {
    super(PER_CALL_EXCEEDED);
    this.expression = expression;
  }
}

/** Evaluates one expression within both of the API server's limits: PerCallLimit for the expression,
 *  and what is left of the policy's budget, which is charged what the expression cost. */
function run(program: CelProgram, vars: Record<string, unknown>, budget: CelBudget): unknown {
  if (budget.exhausted) throw new CelCostError(OUT_OF_BUDGET, program.expression);
  const limitedByCall = budget.remaining > PER_CALL_LIMIT;
  const call: CelBudget = { remaining: Math.min(budget.remaining, PER_CALL_LIMIT) };
  const start = call.remaining;
  try {
    return program.evaluate(vars, call);
  } catch (e) {
    if (e instanceof CelCostError && limitedByCall) throw new PerCallLimitError(program.expression);
    throw e;
  } finally {
    budget.remaining -= start - call.remaining;
    if (call.exhausted && !limitedByCall) budget.exhausted = true;
  }
}

/** A variable's value or error: computed by an earlier policy with the same variables, and charged
 *  what it cost then, or computed now. "exhausted" when the budget runs out (never shared: it depends
 *  on what this policy spent before). */
function sharedOutcome(
  v: Variable,
  vars: Record<string, unknown>,
  budget: CelBudget,
  known: RequestContext["known"],
): SharedVariable | "exhausted" {
  const earlier = known.get(v.sharedAs);
  if (earlier) {
    budget.remaining -= earlier.cost;
    return budget.remaining < 0 ? "exhausted" : earlier;
  }
  const before = budget.remaining;
  let outcome: SharedVariable;
  try {
    outcome = { value: run(v.program, vars, budget), cost: before - budget.remaining };
  } catch (e) {
    if (e instanceof CelCostError) return "exhausted";
    outcome = { error: e, cost: before - budget.remaining };
  }
  known.set(v.sharedAs, outcome);
  return outcome;
}

/** "key=value, …" of the audit annotations that produce a value (null omits one), or the failure. */
function auditAnnotations(
  policy: CompiledPolicy,
  vars: Record<string, unknown>,
  budget: CelBudget,
): string | { key: string; error: unknown } {
  const parts: string[] = [];
  for (const a of policy.auditAnnotations) {
    try {
      const value = run(a.program, vars, budget);
      if (value === null) continue;
      if (typeof value !== "string")
        return { key: a.key, error: new Error(`valueExpression returned ${typeof value}, not string or null`) };
      parts.push(`${policy.name}/${a.key}=${value}`);
    } catch (e) {
      return { key: a.key, error: e };
    }
  }
  return parts.join(", ");
}

/** The denial message as the API server words it: messageExpression's result trimmed, unless it
 *  failed, is not a string, is blank, longer than 5 KiB or has a newline; then the static message
 *  trimmed; then the expression. */
function validationMessage(v: CompiledPolicy["validations"][number], vars: Record<string, unknown>, budget: CelBudget): string {
  if (v.messageProgram) {
    try {
      const m = run(v.messageProgram, vars, budget);
      const trimmed = typeof m === "string" ? m.trim() : "";
      if (trimmed !== "" && Buffer.byteLength(trimmed) <= MAX_MESSAGE_BYTES && !trimmed.includes("\n")) return trimmed;
    } catch (e) {
      // The API server falls back to the static message when messageExpression fails, unless the
      // failure is the budget running out, which fails the whole policy.
      if (e instanceof CelCostError && budget.exhausted) throw e;
    }
  }
  const message = v.message?.trim() ?? "";
  return message !== "" ? message : `failed expression: ${v.program.expression.trim()}`;
}
