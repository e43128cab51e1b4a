// The API server's type check of a ValidatingAdmissionPolicy at creation, so that `vigil policy check`
// refuses (exit 2) what `kubectl apply` of the policy would be refused for. When the API server creates a
// policy it compiles each expression with cel-go's checker (k8s.io/apiserver/pkg/admission/plugin/cel/
// compile.go): `object` and `oldObject` are dyn, `params` is dyn and declared only when the policy has a
// paramKind, `request` and `namespaceObject` have declared object types, `authorizer` is declared for
// validations, variables and audit annotations but not for messageExpression, `variables` is an object
// whose fields have the types of the variables compiled before (an object type there becomes dyn), and
// matchConditions see no `variables`. List and map literals are homogeneous. Then the expression's type
// must be the field's: bool for validations and matchConditions, string for messageExpression, string or
// null for an audit annotation (a dyn result is refused too).
//
// Errors carry the API server's words and cel-go's positions (the operator, the `(` of a call, the `.`
// of a selection). This is not all of cel-go's checker: a type it is not sure of is "unknown", which is
// never judged, so the check can miss a refusal but never invent one; test/policy-differential.test.ts
// compares it with the API server on refused and accepted expressions. The API server makes no cost
// estimate for these expressions at creation (unlike CRD validation rules); costs are limited at
// evaluation only, as Vigil does (vap.ts).
import type { Expr, ParsedExpr } from "./ast.ts";
import { parseCel, positionOf } from "./compile.ts";
import { sortByExpansions } from "./comprehensions.ts";

export type CelType =
  | { kind: "prim"; name: Primitive }
  | { kind: "unknown" }
  | { kind: "list"; elem: CelType }
  | { kind: "map"; key: CelType; value: CelType }
  /** An optional value (optional types, Kubernetes 1.28+). */
  | { kind: "optional"; elem: CelType }
  /** A named type; `fields` when it supports field selection (request, namespaceObject, variables). */
  | { kind: "object"; name: string; fields?: ReadonlyMap<string, CelType> }
  /** A type parameter, in overload signatures only. */
  | { kind: "param"; name: string }
  /** The (index or key, value) pair a two-variable comprehension's expansion walks (comprehensions.ts). */
  | { kind: "pair"; first: CelType; second: CelType };

type Primitive = "int" | "uint" | "double" | "bool" | "string" | "bytes" | "null" | "duration" | "timestamp" | "dyn";

const prim = (name: Primitive): CelType => ({ kind: "prim", name });
const INT = prim("int"),
  UINT = prim("uint"),
  DOUBLE = prim("double"),
  BOOL = prim("bool"),
  STRING = prim("string");
const BYTES = prim("bytes"),
  NULL = prim("null"),
  DURATION = prim("duration"),
  TIMESTAMP = prim("timestamp"),
  DYN = prim("dyn");
const UNKNOWN: CelType = { kind: "unknown" };
const list = (elem: CelType): CelType => ({ kind: "list", elem });
const map = (key: CelType, value: CelType): CelType => ({ kind: "map", key, value });
const optional = (elem: CelType): CelType => ({ kind: "optional", elem });
const object = (name: string, fields?: Record<string, CelType>): CelType => ({
  kind: "object",
  name,
  ...(fields && { fields: new Map(Object.entries(fields)) }),
});
const A: CelType = { kind: "param", name: "A" };
const B: CelType = { kind: "param", name: "B" };
/** The element type of an empty list or map literal, still free. */
const FREE: CelType = { kind: "param", name: "_" };

/** cel-go's spelling of a type in its messages. */
export function formatType(t: CelType): string {
  switch (t.kind) {
    case "prim":
      return t.name;
    case "unknown":
      return "dyn";
    case "list":
      return `list(${formatType(t.elem)})`;
    case "map":
      return `map(${formatType(t.key)}, ${formatType(t.value)})`;
    case "optional":
      return `optional_type(${formatType(t.elem)})`;
    case "object":
      return t.name;
    case "param":
      return t.name;
    case "pair":
      return "list(dyn)";
  }
}

// The declared types of the API server's environment (compile.go BuildRequestType, BuildNamespaceType).
const gvk = object("kubernetes.GroupVersionKind", { group: STRING, version: STRING, kind: STRING });
const gvr = object("kubernetes.GroupVersionResource", { group: STRING, version: STRING, resource: STRING });
const REQUEST = object("kubernetes.AdmissionRequest", {
  kind: gvk,
  resource: gvr,
  subResource: STRING,
  requestKind: gvk,
  requestResource: gvr,
  requestSubResource: STRING,
  name: STRING,
  namespace: STRING,
  operation: STRING,
  userInfo: object("kubernetes.UserInfo", { username: STRING, uid: STRING, groups: list(STRING), extra: map(STRING, list(STRING)) }),
  dryRun: BOOL,
  options: DYN,
});
const NAMESPACE = object("kubernetes.Namespace", {
  metadata: object("kubernetes.NamespaceMetadata", {
    name: STRING,
    generateName: STRING,
    namespace: STRING,
    labels: map(STRING, STRING),
    annotations: map(STRING, STRING),
    UID: STRING,
    creationTimestamp: TIMESTAMP,
    deletionGracePeriodSeconds: INT,
    deletionTimestamp: TIMESTAMP,
    generation: INT,
    resourceVersion: STRING,
    finalizers: list(STRING),
  }),
  spec: object("kubernetes.NamespaceSpec", { finalizers: list(STRING) }),
  status: object("kubernetes.NamespaceStatus", {
    conditions: list(
      object("kubernetes.NamespaceCondition", {
        status: STRING,
        type: STRING,
        lastTransitionTime: TIMESTAMP,
        message: STRING,
        reason: STRING,
      }),
    ),
    phase: STRING,
  }),
});
const QUANTITY = object("kubernetes.Quantity"),
  URL = object("kubernetes.URL"),
  IP = object("net.IP"),
  CIDR = object("net.CIDR");
const AUTHORIZER = object("kubernetes.authorization.Authorizer"),
  GROUP_CHECK = object("kubernetes.authorization.GroupCheck");
const RESOURCE_CHECK = object("kubernetes.authorization.ResourceCheck"),
  PATH_CHECK = object("kubernetes.authorization.PathCheck");
const DECISION = object("kubernetes.authorization.Decision");
const SEMVER = object("kubernetes.Semver");

/** One overload: `receiver` for a method. */
interface Overload {
  receiver?: CelType;
  args: CelType[];
  result: CelType;
}
const fn = (args: CelType[], result: CelType): Overload => ({ args, result });
const method = (receiver: CelType, args: CelType[], result: CelType): Overload => ({ receiver, args, result });
const numeric = [INT, UINT, DOUBLE];
const comparable = [INT, UINT, DOUBLE, STRING, BYTES, BOOL, TIMESTAMP, DURATION];

// The functions whose every overload is listed here are judged; a function not listed is unknown (its
// result too) and never refused here (compile.ts refuses functions that do not exist at all).
const overloads: Record<string, Overload[]> = {
  "_==_": [fn([A, A], BOOL)],
  "_!=_": [fn([A, A], BOOL)],
  // Kubernetes enables cross-type numeric comparisons (but not equality).
  ...Object.fromEntries(
    ["_<_", "_<=_", "_>_", "_>=_"].map((op) => [
      op,
      [...comparable.map((t) => fn([t, t], BOOL)), ...numeric.flatMap((a) => numeric.filter((b) => b !== a).map((b) => fn([a, b], BOOL)))],
    ]),
  ),
  "_+_": [...numeric, STRING, BYTES]
    .map((t) => fn([t, t], t))
    .concat([
      fn([list(A), list(A)], list(A)),
      fn([TIMESTAMP, DURATION], TIMESTAMP),
      fn([DURATION, TIMESTAMP], TIMESTAMP),
      fn([DURATION, DURATION], DURATION),
    ]),
  "_-_": numeric
    .map((t) => fn([t, t], t))
    .concat([fn([TIMESTAMP, TIMESTAMP], DURATION), fn([TIMESTAMP, DURATION], TIMESTAMP), fn([DURATION, DURATION], DURATION)]),
  "_*_": numeric.map((t) => fn([t, t], t)),
  "_/_": numeric.map((t) => fn([t, t], t)),
  "_%_": [INT, UINT].map((t) => fn([t, t], t)),
  "-_": [fn([INT], INT), fn([DOUBLE], DOUBLE)],
  "!_": [fn([BOOL], BOOL)],
  "_?_:_": [fn([BOOL, A, A], A)],
  "_[_]": [fn([list(A), INT], A), fn([map(A, B), A], B)],
  "@in": [fn([A, list(A)], BOOL), fn([A, map(A, B)], BOOL)],
  size: [STRING, BYTES, list(A), map(A, B)].flatMap((t) => [fn([t], INT), method(t, [], INT)]),
  matches: [fn([STRING, STRING], BOOL), method(STRING, [STRING], BOOL)],
  startsWith: [method(STRING, [STRING], BOOL)],
  endsWith: [method(STRING, [STRING], BOOL)],
  contains: [method(STRING, [STRING], BOOL)],
  // cel-go's strings extension (version 2).
  charAt: [method(STRING, [INT], STRING)],
  lowerAscii: [method(STRING, [], STRING)],
  upperAscii: [method(STRING, [], STRING)],
  trim: [method(STRING, [], STRING)],
  replace: [method(STRING, [STRING, STRING], STRING), method(STRING, [STRING, STRING, INT], STRING)],
  split: [method(STRING, [STRING], list(STRING)), method(STRING, [STRING, INT], list(STRING))],
  substring: [method(STRING, [INT], STRING), method(STRING, [INT, INT], STRING)],
  join: [method(list(STRING), [], STRING), method(list(STRING), [STRING], STRING)],
  // Kubernetes' regex library.
  find: [method(STRING, [STRING], STRING)],
  findAll: [method(STRING, [STRING], list(STRING)), method(STRING, [STRING, INT], list(STRING))],
  // Kubernetes' URL library.
  url: [fn([STRING], URL)],
  isURL: [fn([STRING], BOOL)],
  ...Object.fromEntries(["getScheme", "getHost", "getHostname", "getPort", "getEscapedPath"].map((m) => [m, [method(URL, [], STRING)]])),
  getQuery: [method(URL, [], map(STRING, list(STRING)))],
  // Kubernetes' quantity library.
  quantity: [fn([STRING], QUANTITY)],
  isQuantity: [fn([STRING], BOOL)],
  isInteger: [method(QUANTITY, [], BOOL)],
  asInteger: [method(QUANTITY, [], INT)],
  asApproximateFloat: [method(QUANTITY, [], DOUBLE)],
  add: [method(QUANTITY, [QUANTITY], QUANTITY), method(QUANTITY, [INT], QUANTITY)],
  sub: [method(QUANTITY, [QUANTITY], QUANTITY), method(QUANTITY, [INT], QUANTITY)],
  isLessThan: [method(QUANTITY, [QUANTITY], BOOL), method(SEMVER, [SEMVER], BOOL)],
  isGreaterThan: [method(QUANTITY, [QUANTITY], BOOL), method(SEMVER, [SEMVER], BOOL)],
  compareTo: [method(QUANTITY, [QUANTITY], INT), method(SEMVER, [SEMVER], INT)],
  // CEL's conversions to string, and the IP and CIDR libraries' (not a semver's or a quantity's).
  string: [INT, UINT, DOUBLE, BOOL, BYTES, STRING, TIMESTAMP, DURATION, IP, CIDR].map((t) => fn([t], STRING)),
  // Kubernetes' semver library (version 1).
  semver: [fn([STRING], SEMVER), fn([STRING, BOOL], SEMVER)],
  isSemver: [fn([STRING], BOOL), fn([STRING, BOOL], BOOL)],
  major: [method(SEMVER, [], INT)],
  minor: [method(SEMVER, [], INT)],
  patch: [method(SEMVER, [], INT)],
  // Kubernetes' IP and CIDR libraries.
  ip: [fn([STRING], IP), method(CIDR, [], IP)],
  isIP: [fn([STRING], BOOL)],
  family: [method(IP, [], INT)],
  ...Object.fromEntries(
    ["isUnspecified", "isLoopback", "isLinkLocalMulticast", "isLinkLocalUnicast", "isGlobalUnicast"].map((m) => [
      m,
      [method(IP, [], BOOL)],
    ]),
  ),
  cidr: [fn([STRING], CIDR)],
  isCIDR: [fn([STRING], BOOL)],
  containsIP: [method(CIDR, [STRING], BOOL), method(CIDR, [IP], BOOL)],
  containsCIDR: [method(CIDR, [STRING], BOOL), method(CIDR, [CIDR], BOOL)],
  masked: [method(CIDR, [], CIDR)],
  prefixLength: [method(CIDR, [], INT)],
  // Kubernetes' authorizer library.
  group: [method(AUTHORIZER, [STRING], GROUP_CHECK)],
  path: [method(AUTHORIZER, [STRING], PATH_CHECK)],
  serviceAccount: [method(AUTHORIZER, [STRING, STRING], AUTHORIZER)],
  resource: [method(GROUP_CHECK, [STRING], RESOURCE_CHECK)],
  ...Object.fromEntries(
    ["subresource", "namespace", "name", "fieldSelector", "labelSelector"].map((m) => [
      m,
      [method(RESOURCE_CHECK, [STRING], RESOURCE_CHECK)],
    ]),
  ),
  check: [method(RESOURCE_CHECK, [STRING], DECISION), method(PATH_CHECK, [STRING], DECISION)],
  allowed: [method(DECISION, [], BOOL)],
  errored: [method(DECISION, [], BOOL)],
  reason: [method(DECISION, [], STRING)],
  error: [method(DECISION, [], STRING)],
  // Kubernetes' list library.
  isSorted: [method(list(A), [], BOOL)],
  sum: [INT, UINT, DOUBLE, DURATION].map((t) => method(list(t), [], t)),
  min: [method(list(A), [], A)],
  max: [method(list(A), [], A)],
  indexOf: [method(STRING, [STRING], INT), method(STRING, [STRING, INT], INT), method(list(A), [A], INT)],
  lastIndexOf: [method(STRING, [STRING], INT), method(STRING, [STRING, INT], INT), method(list(A), [A], INT)],
  // cel-go's list extension: on lists only (the strings extension's reverse() is version 3, not enabled).
  reverse: [method(list(A), [], list(A))],
  sort: comparable.map((t) => method(list(t), [], list(t))),
  distinct: [method(list(A), [], list(A))],
  flatten: [method(list(list(A)), [], list(A)), method(list(DYN), [INT], list(DYN))],
  slice: [method(list(A), [INT, INT], list(A))],
  // The optional library's version 2.
  first: [method(list(A), [], optional(A))],
  last: [method(list(A), [], optional(A))],
  // Optional values. Optionals made by Vigil's rewrite of `.?`, `[?…]` and optional.of() are not
  // typed (unknown), so these judge the optionals first() and last() return.
  hasValue: [method(optional(A), [], BOOL)],
  value: [method(optional(A), [], A)],
  orValue: [method(optional(A), [A], A)],
  or: [method(optional(A), [optional(A)], optional(A))],
};

/** Functions whose arguments are not judged here, with the type of their result. */
const resultOnly: Record<string, CelType> = {
  int: INT,
  uint: UINT,
  double: DOUBLE,
  bool: BOOL,
  bytes: BYTES,
  duration: DURATION,
  timestamp: TIMESTAMP,
  dyn: DYN,
  format: STRING,
  "strings.quote": STRING,
  "lists.range": list(INT),
  "ip.isCanonical": BOOL,
  ...Object.fromEntries(
    [
      "getFullYear",
      "getMonth",
      "getDayOfYear",
      "getDayOfMonth",
      "getDate",
      "getDayOfWeek",
      "getHours",
      "getMinutes",
      "getSeconds",
      "getMilliseconds",
    ].map((m) => [m, INT]),
  ),
};

const isOperator = (name: string) => /^[_@!-]/.test(name);

export interface Declarations {
  /** The policy has a paramKind: `params` is declared (dyn). */
  params: boolean;
  /** `authorizer` is declared (not for messageExpression). */
  authorizer: boolean;
  /** The types of the variables compiled so far; undefined where `variables` is not declared (matchConditions). */
  variables?: ReadonlyMap<string, CelType>;
}

/** What the field's expression must evaluate to, as the API server words it. */
export type Expected = "bool" | "string" | "string-or-null" | "any";

export interface TypeProblem {
  message: string;
  /** Where in the expression; none when the whole expression has the wrong type. */
  line?: number;
  column?: number;
}

export class CelTypeError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

export interface TypeCheckResult {
  type: CelType;
  problem?: TypeProblem;
}

/** Type-checks an expression as the API server does at creation: its type, or the first problem. */
export function typeCheck(expression: string, declarations: Declarations, expected: Expected): TypeCheckResult {
  const { parsed, origin } = parseCel(expression);
  return typeCheckParsed(expression, parsed, origin, declarations, expected);
}

/** The same, on the expression as parseCel parsed it (compile.ts hands it over before instrumenting it). */
export function typeCheckParsed(
  expression: string,
  parsed: ParsedExpr,
  origin: number[] | undefined,
  declarations: Declarations,
  expected: Expected,
): TypeCheckResult {
  const positions = parsed.sourceInfo?.positions ?? {};
  const offsetOf = (e: Expr): number => {
    const offset = positions[e.id.toString()] ?? 0;
    return origin ? (origin[offset] ?? expression.length) : offset;
  };
  // Nodes made by an expansion (two-variable comprehensions) have no place in the text: their
  // problems are not judged, since the text as written has no such node.
  const written = (e: Expr): boolean => positions[e.id.toString()] !== undefined;
  const problemAt = (message: string, offset: number): TypeProblem => ({ message, ...positionOf(expression, offset) });
  const bind = bindingUse(expression);
  if (bind !== undefined) return { type: UNKNOWN, problem: problemAt("undeclared reference to 'cel' (in container '')", bind) };
  const checker = new Checker(expression, declarations, offsetOf, written);
  let type: CelType;
  try {
    type = checker.check(parsed.expr, new Map());
  } catch (e) {
    if (e instanceof CelTypeError) return { type: UNKNOWN, problem: problemAt(e.message, e.offset) };
    throw e;
  }
  const wrong = resultProblem(type, expected);
  return wrong ? { type, problem: { message: wrong } } : { type };
}

/** The API server's words when the expression's type is not the field's (compile.go). */
function resultProblem(type: CelType, expected: Expected): string | undefined {
  if (expected === "any" || hasUnknown(type)) return undefined;
  const got = type.kind === "prim" && type.name === "null" ? "null_type" : formatType(type);
  const is = (name: Primitive) => type.kind === "prim" && type.name === name;
  if (expected === "bool" && !is("bool")) return `must evaluate to bool but got ${got}`;
  if (expected === "string" && !is("string")) return `must evaluate to string but got ${got}`;
  if (expected === "string-or-null" && !is("string") && !is("null")) return `must evaluate to one of [string null_type] but got ${got}`;
  return undefined;
}

/** The type a variable's field has in `variables` (composition.go): object types become dyn. */
export function variableFieldType(type: CelType): CelType {
  switch (type.kind) {
    case "object":
      return DYN;
    case "list":
      return list(variableFieldType(type.elem));
    case "map":
      return map(variableFieldType(type.key), variableFieldType(type.value));
    case "optional":
      return optional(variableFieldType(type.elem));
    default:
      return type;
  }
}

type Scope = ReadonlyMap<string, CelType>;

class Checker {
  private readonly text: string;
  private readonly declarations: Declarations;
  private readonly offsetOf: (e: Expr) => number;
  private readonly written: (e: Expr) => boolean;
  constructor(text: string, declarations: Declarations, offsetOf: (e: Expr) => number, written: (e: Expr) => boolean) {
    this.text = text;
    this.declarations = declarations;
    this.offsetOf = offsetOf;
    this.written = written;
  }

  check(e: Expr, scope: Scope): CelType {
    const k = e.exprKind;
    switch (k.case) {
      case "constExpr":
        return constantType(k.value.constantKind.case);
      case "identExpr":
        return this.identifier(k.value.name, scope, e);
      case "selectExpr": {
        const operand = k.value.operand;
        if (!operand) return UNKNOWN;
        const at = k.value.testOnly ? this.callParen(e) : this.offsetOf(e);
        return this.select(this.check(operand, scope), k.value.field, at, k.value.testOnly);
      }
      case "listExpr":
        if (!this.written(e)) {
          // An expansion's own literal (a pair, a one-element list binding a variable): its elements' types, not judged.
          const types = k.value.elements.map((x) => this.check(x, scope));
          return list(types.length === 1 ? types[0]! : UNKNOWN);
        }
        return list(this.homogeneous(k.value.elements, scope));
      case "structExpr": {
        if (k.value.messageName !== "") return UNKNOWN;
        const keys: Expr[] = [];
        const values: Expr[] = [];
        for (const entry of k.value.entries) {
          if (entry.keyKind.case === "mapKey") keys.push(entry.keyKind.value);
          if (entry.value) values.push(entry.value);
        }
        return map(this.homogeneous(keys, scope), this.homogeneous(values, scope));
      }
      case "comprehensionExpr":
        return this.comprehension(k.value, scope, e);
      case "callExpr":
        return this.call(k.value, scope, e);
      default:
        return UNKNOWN;
    }
  }

  private identifier(name: string, scope: Scope, e: Expr): CelType {
    const local = scope.get(name);
    if (local) return local;
    const d = this.declarations;
    switch (name) {
      case "object":
      case "oldObject":
        return DYN;
      case "request":
        return REQUEST;
      case "namespaceObject":
        return NAMESPACE;
    }
    if (name === "params" && d.params) return DYN;
    if (name === "authorizer" && d.authorizer) return AUTHORIZER;
    if (name === "variables" && d.variables) return object("kubernetes.variables", Object.fromEntries(d.variables));
    if (typeNames.has(name) || name.startsWith("__vigil")) return UNKNOWN;
    throw new CelTypeError(`undeclared reference to '${name}' (in container '')`, this.offsetOf(e));
  }

  private select(operand: CelType, field: string, at: number, testOnly: boolean): CelType {
    switch (operand.kind) {
      case "unknown":
        return UNKNOWN;
      case "map":
        return testOnly ? BOOL : operand.value;
      case "object": {
        if (operand === AUTHORIZER && field === "requestResource") return RESOURCE_CHECK;
        if (!operand.fields) return UNKNOWN;
        const type = operand.fields.get(field);
        if (!type) throw new CelTypeError(`undefined field '${field}'`, at);
        return testOnly ? BOOL : type;
      }
      case "prim":
        if (operand.name === "dyn") return testOnly ? BOOL : DYN;
        if (operand.name === "null") return UNKNOWN;
        throw new CelTypeError(`type '${formatType(operand)}' does not support field selection`, at);
      case "list":
        throw new CelTypeError(`type '${formatType(operand)}' does not support field selection`, at);
      default:
        return UNKNOWN;
    }
  }

  /** List and map literals are homogeneous: each element has the first one's type unless that is dyn. */
  private homogeneous(elements: Expr[], scope: Scope): CelType {
    let first: CelType | undefined;
    for (const element of elements) {
      const type = this.check(element, scope);
      if (first === undefined) first = type;
      else if (!sameForLiteral(first, type)) {
        throw new CelTypeError(`expected type '${formatType(first)}' but found '${formatType(type)}'`, this.celGoOffset(element));
      }
    }
    // An empty literal's element type is free: a parameter joins with whatever it meets.
    return first ?? FREE;
  }

  private comprehension(c: Extract<Expr["exprKind"], { case: "comprehensionExpr" }>["value"], scope: Scope, e: Expr): CelType {
    const range = c.iterRange ? this.check(c.iterRange, scope) : UNKNOWN;
    let element: CelType;
    if (range.kind === "list") element = range.elem;
    else if (range.kind === "map") element = range.key;
    else if (range.kind === "unknown" || (range.kind === "prim" && range.name === "dyn")) element = range;
    else
      throw new CelTypeError(
        `expression of type '${formatType(range)}' cannot be range of a comprehension (must be list, map, or dynamic)`,
        this.offsetOf(c.iterRange ?? e),
      );
    const accuInit = c.accuInit ? this.check(c.accuInit, scope) : UNKNOWN;
    const inner = new Map(scope);
    inner.set(c.iterVar, element);
    if (c.iterVar2) inner.set(c.iterVar2, UNKNOWN);
    inner.set(c.accuVar, accuInit);
    if (c.loopCondition) this.check(c.loopCondition, inner);
    const step = c.loopStep ? this.check(c.loopStep, inner) : accuInit;
    inner.set(c.accuVar, join(accuInit, step) ?? UNKNOWN);
    return c.result ? this.check(c.result, inner) : UNKNOWN;
  }

  private call(c: Extract<Expr["exprKind"], { case: "callExpr" }>["value"], scope: Scope, e: Expr): CelType {
    const name = c.function;
    const namespaced = c.target && qualifiedName(c.target);
    if (
      namespaced !== undefined &&
      (overloads[`${namespaced}.${name}`] || resultOnly[`${namespaced}.${name}`] || namespaceFunctions.has(namespaced))
    ) {
      for (const a of c.args) this.check(a, scope);
      return resultOnly[`${namespaced}.${name}`] ?? UNKNOWN;
    }
    if (name === "_&&_" || name === "_||_") {
      for (const a of c.args) {
        const t = this.check(a, scope);
        if (!assignable(BOOL, t)) throw new CelTypeError(`expected type 'bool' but found '${formatType(t)}'`, this.celGoOffset(a));
      }
      return BOOL;
    }
    const receiver = c.target ? this.check(c.target, scope) : undefined;
    const args = c.args.map((a) => this.check(a, scope));
    if (name === "@not_strictly_false" || name === "__not_strictly_false__") return BOOL;
    if (name === "__vigilPairs") return list(pairOf(args[0] ?? UNKNOWN));
    const sortBy = sortByExpansions.get(e);
    if (sortBy) return this.sortBy(sortBy, scope);
    const pairPart = name === "_[_]" && args[0]?.kind === "pair" ? constantIndex(c.args[1]) : undefined;
    if (pairPart !== undefined && args[0]?.kind === "pair")
      return pairPart === 0 ? args[0].first : pairPart === 1 ? args[0].second : UNKNOWN;
    if (!this.written(e)) return UNKNOWN;
    const known = resultOnly[name];
    if (known) return known;
    const candidates = overloads[name];
    if (!candidates) return UNKNOWN;
    return this.resolve(name, candidates, receiver, args, e);
  }

  /** `target.sortBy(v, key)` as written: the target's type, once the keys are of a type cel-go orders. */
  private sortBy(written: { callId: bigint; target: Expr; variable: string; key: Expr }, scope: Scope): CelType {
    const target = this.check(written.target, scope);
    const element = target.kind === "list" ? target.elem : UNKNOWN;
    const key = this.check(written.key, new Map(scope).set(written.variable, element));
    if (!hasUnknown(key) && !comparable.some((t) => assignable(t, key))) {
      const offset = this.offsetOf({ id: written.callId } as Expr);
      const paren = this.text.indexOf("(", offset);
      throw new CelTypeError(
        `found no matching overload for '@sortByAssociatedKeys' applied to '${formatType(target)}.(${formatType(list(key))})'`,
        paren < 0 ? offset : paren,
      );
    }
    return target;
  }

  private resolve(name: string, candidates: Overload[], receiver: CelType | undefined, args: CelType[], e: Expr): CelType {
    const results: CelType[] = [];
    for (const o of candidates) {
      if ((o.receiver === undefined) !== (receiver === undefined) || o.args.length !== args.length) continue;
      const bindings = new Map<string, CelType>();
      const formal = o.receiver ? [o.receiver, ...o.args] : o.args;
      const actual = receiver ? [receiver, ...args] : args;
      if (formal.every((f, i) => unify(f, actual[i]!, bindings))) results.push(substitute(o.result, bindings));
    }
    if (results.length === 0) {
      const all = [receiver, ...args].filter((t): t is CelType => t !== undefined);
      // Unknown types are never judged.
      if (all.some(hasUnknown)) return UNKNOWN;
      const applied = receiver ? `${formatType(receiver)}.(${args.map(formatType).join(", ")})` : `(${args.map(formatType).join(", ")})`;
      throw new CelTypeError(`found no matching overload for '${name}' applied to '${applied}'`, this.callOffset(name, e));
    }
    const first = results[0]!;
    if (results.every((r) => equalTypes(r, first))) return first;
    return [receiver, ...args].some((t) => t && hasUnknown(t)) ? UNKNOWN : DYN;
  }

  /** Where cel-go puts an expression: a call where callOffset says, has() at its `(`, others where parsed. */
  private celGoOffset(e: Expr): number {
    const k = e.exprKind;
    if (k.case === "callExpr") return this.callOffset(k.value.function, e);
    if (k.case === "selectExpr" && k.value.testOnly) return this.callParen(e);
    return this.offsetOf(e);
  }

  /** Where cel-go puts a call: an operator's token, a function's `(`. */
  private callOffset(name: string, e: Expr): number {
    const offset = this.offsetOf(e);
    if (name === "_?_:_") return this.ternaryMark(offset);
    if (isOperator(name)) return skipSpace(this.text, offset);
    return this.callParen(e);
  }

  /** The `(` of a call or macro (has()) at or after its recorded position. */
  private callParen(e: Expr): number {
    const offset = this.offsetOf(e);
    const paren = this.text.indexOf("(", offset);
    return paren < 0 ? offset : paren;
  }

  /** The `?` of a conditional, which cel-go points at; the parser records the condition's start. */
  private ternaryMark(from: number): number {
    let depth = 0;
    for (let i = from; i < this.text.length; i++) {
      const ch = this.text[i]!;
      if (ch === "'" || ch === '"') i = endOfString(this.text, i);
      else if ("([{".includes(ch)) depth++;
      else if (")]}".includes(ch)) depth--;
      else if (ch === "?" && depth === 0 && !/[.[,{]\s*$/.test(this.text.slice(0, i))) return i;
    }
    return from;
  }
}

const typeNames = new Set(["int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type", "dyn", "optional_type"]);
const namespaceFunctions = new Set(["optional", "sets", "lists", "strings", "format", "ip", "vigil", "math"]);

/** The pairs of a two-variable comprehension over a list (index, element) or a map (key, value). */
function pairOf(target: CelType): CelType {
  if (target.kind === "list") return { kind: "pair", first: INT, second: target.elem };
  if (target.kind === "map") return { kind: "pair", first: target.key, second: target.value };
  return UNKNOWN;
}

function constantIndex(e: Expr | undefined): number | undefined {
  const k = e?.exprKind;
  return k?.case === "constExpr" && k.value.constantKind.case === "int64Value" ? Number(k.value.constantKind.value) : undefined;
}

function constantType(kind: string | undefined): CelType {
  switch (kind) {
    case "stringValue":
      return STRING;
    case "int64Value":
      return INT;
    case "uint64Value":
      return UINT;
    case "doubleValue":
      return DOUBLE;
    case "boolValue":
      return BOOL;
    case "bytesValue":
      return BYTES;
    case "nullValue":
      return NULL;
    case "durationValue":
      return DURATION;
    case "timestampValue":
      return TIMESTAMP;
    default:
      return UNKNOWN;
  }
}

function qualifiedName(e: Expr): string | undefined {
  const k = e.exprKind;
  if (k.case === "identExpr") return k.value.name;
  if (k.case === "selectExpr" && !k.value.testOnly && k.value.operand) {
    const operand = qualifiedName(k.value.operand);
    return operand === undefined ? undefined : `${operand}.${k.value.field}`;
  }
  return undefined;
}

function hasUnknown(t: CelType): boolean {
  if (t.kind === "unknown" || t.kind === "param") return true;
  if (t.kind === "list") return hasUnknown(t.elem);
  if (t.kind === "map") return hasUnknown(t.key) || hasUnknown(t.value);
  if (t.kind === "optional") return hasUnknown(t.elem);
  return false;
}

const isDyn = (t: CelType) => t.kind === "prim" && t.name === "dyn";
const isNull = (t: CelType) => t.kind === "prim" && t.name === "null";

function equalTypes(a: CelType, b: CelType): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case "prim":
      return a.name === (b as typeof a).name;
    case "list":
      return equalTypes(a.elem, (b as typeof a).elem);
    case "map":
      return equalTypes(a.key, (b as typeof a).key) && equalTypes(a.value, (b as typeof a).value);
    case "optional":
      return equalTypes(a.elem, (b as typeof a).elem);
    case "object":
      return a.name === (b as typeof a).name;
    default:
      return true;
  }
}

/** A literal's elements must all have exactly the first one's type (dyn too); unknown is not judged. */
function sameForLiteral(first: CelType, next: CelType): boolean {
  if (hasUnknown(first) || hasUnknown(next)) return true;
  if (first.kind === "list" && next.kind === "list") return sameForLiteral(first.elem, next.elem);
  if (first.kind === "map" && next.kind === "map") return sameForLiteral(first.key, next.key) && sameForLiteral(first.value, next.value);
  return equalTypes(first, next);
}

/** Whether a value of type `actual` may be used where `formal` is expected (dyn and unknown go anywhere). */
function assignable(formal: CelType, actual: CelType): boolean {
  return unify(formal, actual, new Map());
}

/** Matches `actual` against `formal`, binding type parameters; null goes where an object or dyn goes. */
function unify(formal: CelType, actual: CelType, bindings: Map<string, CelType>): boolean {
  if (formal.kind === "param") {
    if (actual.kind === "param") return true;
    const bound = bindings.get(formal.name);
    if (!bound) {
      bindings.set(formal.name, actual);
      return true;
    }
    // cel-go lets null meet an object or a null; any other pair of different types fails.
    if (isNull(actual)) return bound.kind === "object" || isNull(bound) || isDyn(bound) || hasUnknown(bound);
    if (isNull(bound) && actual.kind === "object") {
      bindings.set(formal.name, actual);
      return true;
    }
    const joined = join(bound, actual);
    if (!joined) return false;
    bindings.set(formal.name, joined);
    return true;
  }
  if (actual.kind === "unknown" || actual.kind === "param" || isDyn(actual) || isDyn(formal) || formal.kind === "unknown") return true;
  if (formal.kind === "list") return actual.kind === "list" && unify(formal.elem, actual.elem, bindings);
  if (formal.kind === "optional") return actual.kind === "optional" && unify(formal.elem, actual.elem, bindings);
  if (formal.kind === "map")
    return actual.kind === "map" && unify(formal.key, actual.key, bindings) && unify(formal.value, actual.value, bindings);
  return equalTypes(formal, actual);
}

/** The most general of two types, or undefined when they do not join. */
function join(a: CelType, b: CelType): CelType | undefined {
  // An empty literal's element type is free: it takes the other's.
  if (a.kind === "param") return b;
  if (b.kind === "param") return a;
  if (a.kind === "unknown" || b.kind === "unknown") return UNKNOWN;
  if (isDyn(a) || isDyn(b)) return DYN;
  if (a.kind === "list" && b.kind === "list") {
    const elem = join(a.elem, b.elem);
    return elem && list(elem);
  }
  if (a.kind === "map" && b.kind === "map") {
    const key = join(a.key, b.key);
    const value = join(a.value, b.value);
    return key && value && map(key, value);
  }
  if (a.kind === "optional" && b.kind === "optional") {
    const elem = join(a.elem, b.elem);
    return elem && optional(elem);
  }
  return equalTypes(a, b) ? a : undefined;
}

function substitute(t: CelType, bindings: ReadonlyMap<string, CelType>): CelType {
  switch (t.kind) {
    case "param":
      return bindings.get(t.name) ?? UNKNOWN;
    case "list":
      return list(substitute(t.elem, bindings));
    case "map":
      return map(substitute(t.key, bindings), substitute(t.value, bindings));
    case "optional":
      return optional(substitute(t.elem, bindings));
    default:
      return t;
  }
}

function skipSpace(text: string, offset: number): number {
  let i = offset;
  while (i < text.length && /\s/.test(text[i]!)) i++;
  return i;
}

/** The index of the quote closing the string literal that opens at `start` (triple quotes too). */
function endOfString(text: string, start: number): number {
  const quote = text[start]!;
  const triple = text.startsWith(quote.repeat(3), start);
  const close = triple ? quote.repeat(3) : quote;
  for (let i = start + close.length; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text.startsWith(close, i)) return i + close.length - 1;
  }
  return text.length;
}

/** Where `cel.bind(` is used outside string literals: the API server v1.37 does not declare it. */
function bindingUse(text: string): number | undefined {
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "'" || ch === '"') i = endOfString(text, i);
    else if (ch === "c" && /^cel\s*\.\s*bind\s*\(/.test(text.slice(i)) && !/[\w.]$/.test(text.slice(0, i))) return i;
  }
  return undefined;
}
