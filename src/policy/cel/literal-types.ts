// One rule of the API server's type check, applied before a policy is accepted: list and map literals
// are homogeneous (cel-go's HomogeneousAggregateLiterals, which Kubernetes enables). When the API server
// creates a ValidatingAdmissionPolicy it compiles each expression with `object`, `oldObject`, `params`,
// `request` and `namespaceObject` as dynamic values, so `{'who': 'pod', 'type': object.spec.type}` mixes
// a string with a dyn and is refused ("expected type 'string' but found 'dyn'"). Vigil's evaluator would
// run it, so the gate would accept a policy the cluster refuses.
//
// This is a deliberately small inference, not a type checker: an expression whose type it cannot be
// sure of is "unknown" and never judged, so it can miss a refusal but never invents one.
import type { Expr, ParsedExpr } from "./ast.ts";
import { parseCel, positionOf } from "./compile.ts";

/** What is known of an expression's type; undefined when unknown. Lists and maps are not compared by element. */
type Known = "string" | "int" | "uint" | "double" | "bool" | "bytes" | "null" | "dyn" | "list" | "map";
type Scope = ReadonlyMap<string, Known | undefined>;

/** The variables the API server declares as dyn when it checks a policy at creation. */
const DYNAMIC_ROOTS = ["object", "oldObject", "params", "request", "namespaceObject"];

export interface LiteralTypeProblem {
  /** Expression id of the element whose type differs (its position is in the parsed source info). */
  id: bigint;
  message: string;
}

/**
 * The first literal that mixes types, if any. `variables` are the types inferred for the policy's
 * earlier variables (as `variables.NAME`); `inferVariable` gives the type of an expression to record.
 */
export function literalTypeProblem(parsed: ParsedExpr, variables: ReadonlyMap<string, Known | undefined>): LiteralTypeProblem | undefined {
  let problem: LiteralTypeProblem | undefined;
  const scope: Scope = new Map(DYNAMIC_ROOTS.map((n) => [n, "dyn" as const]));
  const infer = (e: Expr, scope: Scope): Known | undefined => {
    const k = e.exprKind;
    switch (k.case) {
      case "constExpr":
        return constantType(k.value.constantKind.case);
      case "identExpr":
        return scope.get(k.value.name);
      case "selectExpr": {
        if (k.value.testOnly) {
          if (k.value.operand) infer(k.value.operand, scope);
          return "bool";
        }
        const operand = k.value.operand;
        if (operand?.exprKind.case === "identExpr" && operand.exprKind.value.name === "variables" && !scope.has("variables")) return variables.get(k.value.field);
        return operand && infer(operand, scope) === "dyn" ? "dyn" : undefined;
      }
      case "listExpr":
        homogeneous(k.value.elements, scope);
        return "list";
      case "structExpr": {
        if (k.value.messageName !== "") {
          for (const entry of k.value.entries) if (entry.value) infer(entry.value, scope);
          return undefined;
        }
        const keys: Expr[] = [];
        const values: Expr[] = [];
        for (const entry of k.value.entries) {
          if (entry.keyKind.case === "mapKey") keys.push(entry.keyKind.value);
          if (entry.value) values.push(entry.value);
        }
        homogeneous(keys, scope);
        homogeneous(values, scope);
        return "map";
      }
      case "comprehensionExpr": {
        const c = k.value;
        const range = c.iterRange ? infer(c.iterRange, scope) : undefined;
        const inner = new Map(scope);
        inner.set(c.iterVar, range === "dyn" ? "dyn" : undefined);
        if (c.iterVar2) inner.set(c.iterVar2, range === "dyn" ? "dyn" : undefined);
        const accuInit = c.accuInit ? infer(c.accuInit, scope) : undefined;
        inner.set(c.accuVar, accuInit === "bool" || accuInit === "list" ? accuInit : undefined);
        for (const part of [c.loopCondition, c.loopStep, c.result]) if (part) infer(part, inner);
        return accuInit === "bool" || accuInit === "list" ? accuInit : undefined;
      }
      case "callExpr": {
        const { function: fn, target, args } = k.value;
        const targetType = target ? infer(target, scope) : undefined;
        const argTypes = args.map((a) => infer(a, scope));
        return callType(fn, target !== undefined, targetType, argTypes);
      }
      default:
        return undefined;
    }
  };
  /** Elements must all have one type; the first that differs from the first known one is the problem. */
  const homogeneous = (elements: Expr[], scope: Scope): void => {
    let first: Known | undefined;
    for (const element of elements) {
      const type = infer(element, scope);
      if (problem || type === undefined || type === "null") continue;
      if (first === undefined) first = type;
      else if (type !== first && (isScalarOrDyn(type) || isScalarOrDyn(first))) {
        problem = { id: element.id, message: `expected type '${first}' but found '${type}': the API server refuses list and map literals whose elements differ in type (make them one type, e.g. with string(), or wrap the first in dyn())` };
      }
    }
  };
  infer(parsed.expr, scope);
  return problem;
}

/** The type inferred for a whole expression (a variable's, for the expressions that read it). */
export function expressionType(parsed: ParsedExpr, variables: ReadonlyMap<string, Known | undefined>): Known | undefined {
  // literalTypeProblem walks the same way; this only needs the root's type.
  const scope: Scope = new Map(DYNAMIC_ROOTS.map((n) => [n, "dyn" as const]));
  return rootType(parsed.expr, scope, variables);
}

function rootType(e: Expr, scope: Scope, variables: ReadonlyMap<string, Known | undefined>): Known | undefined {
  const k = e.exprKind;
  switch (k.case) {
    case "constExpr":
      return constantType(k.value.constantKind.case);
    case "identExpr":
      return scope.get(k.value.name);
    case "selectExpr": {
      if (k.value.testOnly) return "bool";
      const operand = k.value.operand;
      if (operand?.exprKind.case === "identExpr" && operand.exprKind.value.name === "variables") return variables.get(k.value.field);
      return operand && rootType(operand, scope, variables) === "dyn" ? "dyn" : undefined;
    }
    case "listExpr":
      return "list";
    case "structExpr":
      return k.value.messageName === "" ? "map" : undefined;
    case "callExpr": {
      const { function: fn, target, args } = k.value;
      return callType(fn, target !== undefined, target ? rootType(target, scope, variables) : undefined, args.map((a) => rootType(a, scope, variables)));
    }
    default:
      return undefined;
  }
}

function constantType(kind: string | undefined): Known | undefined {
  switch (kind) {
    case "stringValue": return "string";
    case "int64Value": return "int";
    case "uint64Value": return "uint";
    case "doubleValue": return "double";
    case "boolValue": return "bool";
    case "bytesValue": return "bytes";
    case "nullValue": return "null";
    default: return undefined;
  }
}

const booleanOperators = new Set(["_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_", "_&&_", "_||_", "!_", "@in", "@not_strictly_false"]);
const booleanMethods = new Set(["matches", "startsWith", "endsWith", "contains"]);
const stringMethods = new Set(["join", "lowerAscii", "upperAscii", "trim", "replace", "substring", "charAt", "format"]);
const conversions: Record<string, Known> = { string: "string", int: "int", uint: "uint", double: "double", bool: "bool", bytes: "bytes", dyn: "dyn", size: "int" };

/** A call's type where it is certain; undefined otherwise. */
function callType(fn: string, isMethod: boolean, target: Known | undefined, args: (Known | undefined)[]): Known | undefined {
  if (booleanOperators.has(fn)) return "bool";
  if (!isMethod && conversions[fn] && args.length === 1) return conversions[fn];
  if (isMethod && booleanMethods.has(fn) && target === "string") return "bool";
  if (isMethod && stringMethods.has(fn) && (target === "string" || (fn === "join" && target === "list"))) return "string";
  if (isMethod && fn === "size") return "int";
  if (fn === "_?_:_") {
    const [, a, b] = args;
    if (a === undefined || b === undefined) return undefined;
    if (a === b) return a;
    // cel-go joins a dyn branch with any other into dyn.
    return a === "dyn" || b === "dyn" ? "dyn" : undefined;
  }
  if (fn === "_+_") {
    const [a, b] = args;
    if (a === "string" || b === "string") return a === "list" || b === "list" ? undefined : "string";
    if (a === "list" && b === "list") return "list";
    if (a === "dyn" && b === "dyn") return "dyn";
    return a !== undefined && a === b && a !== "map" ? a : undefined;
  }
  if (fn === "_[_]") return args[0] === "dyn" ? "dyn" : undefined;
  return undefined;
}

function isScalarOrDyn(t: Known): boolean {
  return t !== "list" && t !== "map";
}

/** The policy-level entry: the literal problem of an expression with its position in the text as
 *  written, and the expression's own type for the variables after it. */
export function checkLiteralTypes(expression: string, variables: ReadonlyMap<string, Known | undefined>): { type: Known | undefined; problem?: { message: string; line: number; column: number } } {
  const { parsed, origin } = parseCel(expression);
  const type = expressionType(parsed, variables);
  const found = literalTypeProblem(parsed, variables);
  if (!found) return { type };
  const offset = parsed.sourceInfo?.positions[found.id.toString()] ?? 0;
  const { line, column } = positionOf(expression, origin ? (origin[offset] ?? expression.length) : offset);
  return { type, problem: { message: found.message, line, column } };
}

export type InferredType = Known | undefined;
