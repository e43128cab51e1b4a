// The CEL environment for ValidatingAdmissionPolicy expressions, on @bufbuild/cel (a conformant CEL
// implementation in TypeScript) with the libraries Kubernetes offers (libraries.ts). Expressions are
// compiled once: the optional-type syntax and cel.bind, which @bufbuild/cel 0.6.1 does not parse, are
// rewritten first (syntax.ts), the parsed expression is instrumented so that its evaluation is
// charged against a cost budget (cost.ts), and it is evaluated by closures compiled from it
// (closures.ts), which hand back to @bufbuild/cel's planner whatever they do not take.
import { celEnv, isCelError, parse, plan, type CelEnv } from "@bufbuild/cel";
import type { Registry } from "@bufbuild/protobuf";
import { RE2JS } from "@bufbuild/re2";
import { Lru } from "../../core/lru.ts";
import { authorizerLibrary } from "./authorizer.ts";
import { children, type Expr, type ParsedExpr } from "./ast.ts";
import { BAILED, compileClosures } from "./closures.ts";
import { comprehensionFunctions, expandComprehensions, MacroError } from "./comprehensions.ts";
import { charging, costFunctions, currentBudget, instrument, type CelBudget } from "./cost.ts";
import { kubernetesLibraries } from "./libraries.ts";
import { optionalTypes } from "./optional.ts";
import { collectComprehensionVariables, resolveRootsOnce } from "./roots.ts";
import { CelSyntaxError, needsRewrite, rewriteSyntax } from "./syntax.ts";

export type { CelBudget };
export { toCel } from "./values.ts";

export class CelCompileError extends Error {
  readonly expression: string;
  readonly line?: number;
  readonly column?: number;
  constructor(message: string, expression: string, position?: { line: number; column: number }) {
    super(message);
    this.expression = expression;
    if (position) {
      this.line = position.line;
      this.column = position.column;
    }
  }
}

export class CelEvalError extends Error {
  readonly expression: string;
  constructor(message: string, expression: string) {
    super(message);
    this.expression = expression;
  }
}

export class CelCostError extends CelEvalError {}

export interface CelProgram {
  readonly expression: string;
  evaluate(vars: Record<string, unknown>, budget?: CelBudget): unknown;
}

/** Cost charged per evaluation of one expression, on top of what its steps cost. */
const EXPRESSION_COST = 1;

let env: CelEnv | undefined;
// matches() runs on RE2 (linear time), as in Kubernetes: a pattern in a policy must not be able to
// hang the gate on a crafted label value through backtracking.
// Compiled once per pattern; bounded, since patterns may come from the objects checked.
const re2Cache = new Lru<string, RE2JS>(1000);
const re2 = {
  compile(pattern: string): RE2JS {
    let compiled = re2Cache.get(pattern);
    if (!compiled) re2Cache.set(pattern, (compiled = RE2JS.compile(pattern)));
    return compiled;
  },
};

/** The CEL environment policies run in; the conformance test adds its message registry and container. */
export function celEnvironment(options: { registry?: Registry; namespace?: string } = {}): CelEnv {
  const funcs = [...kubernetesLibraries, ...optionalTypes, ...comprehensionFunctions, ...authorizerLibrary, ...costFunctions];
  return celEnv({ ...options, funcs, re2 });
}
const environment = () => (env ??= celEnvironment());

// Policies repeat expressions (every PSS policy derives the same pod spec and container list), and a
// program is stateless: each distinct one is parsed and planned once per process. Bounded, since the
// agent loads new policies as the repository changes.
const compiled = new Lru<string, CelProgram>(2000);

/** What a caller may look at in the parsed expression before it is instrumented (the type check). */
export type ParsedInspector = (parsed: ParsedExpr, origin?: number[]) => void;

/**
 * Compiles once; `variables` are the names an expression may use. Throws CelCompileError with the
 * position. `inspect` sees the parsed expression when it is compiled (not when the program was cached).
 */
export function compileCel(expression: string, variables: readonly string[], inspect?: ParsedInspector): CelProgram {
  const key = `${variables.join(",")}\u0000${expression}`;
  let program = compiled.get(key);
  if (!program) compiled.set(key, (program = compileUncached(expression, variables, inspect)));
  return program;
}

function compileUncached(expression: string, variables: readonly string[], inspect?: ParsedInspector): CelProgram {
  const { parsed: expanded, origin } = parseCel(expression);
  const names = new Set(variables);
  collectComprehensionVariables(expanded.expr, names);
  const unknown = unknownFunction(expanded.expr, environment(), names);
  if (unknown) {
    const offset = expanded.sourceInfo?.positions[unknown.id.toString()];
    const written = offset === undefined ? undefined : origin ? (origin[offset] ?? expression.length) : offset;
    // The API server's words, at the call's `(` (or the undeclared name) as cel-go points.
    const paren = written === undefined || !unknown.atCall ? -1 : expression.indexOf("(", written);
    const at = written === undefined ? undefined : positionOf(expression, paren < 0 ? written : paren);
    throw new CelCompileError(
      `undeclared reference to '${unknown.name}' (in container ''): not a function of CEL or of the Kubernetes libraries`,
      expression,
      at,
    );
  }
  // Before instrumentation rewrites the tree in place.
  inspect?.(expanded, origin);
  const evaluate = planCel(environment(), resolveRootsOnce(instrument(expanded), variables), variables);
  const allowed = new Set(variables);
  return {
    expression,
    evaluate(vars, budget) {
      if (budget) {
        budget.remaining -= EXPRESSION_COST;
        if (budget.remaining < 0) budget.exhausted = true;
        if (budget.exhausted) throw new CelCostError("the policy's evaluation cost budget is exhausted", expression);
      }
      const bindings = onlyAllowed(vars, allowed);
      const result = charging(budget, () => evaluate(bindings as never));
      if (budget?.exhausted) throw new CelCostError("the policy's evaluation cost budget is exhausted", expression);
      if (isCelError(result)) throw new CelEvalError(result.message, expression);
      return result;
    },
  };
}

/**
 * Plans a parsed expression whose free names are `variables`: evaluated by compiled closures
 * (closures.ts) when it can be, by @bufbuild/cel's planner otherwise. When a compiled evaluation
 * gives up part way, the planner evaluates the expression again from the budget as it was before, so
 * the result and the cost charged are the planner's.
 */
export function planCel(env: CelEnv, parsed: ParsedExpr, variables: readonly string[]): (vars: Record<string, unknown>) => unknown {
  const planned = plan(env, parsed);
  const compiledClosures = compileClosures(env, parsed, variables);
  if (!compiledClosures) return planned as (vars: Record<string, unknown>) => unknown;
  return (vars) => {
    const budget = currentBudget();
    const before = budget && { remaining: budget.remaining, exhausted: budget.exhausted, had: "exhausted" in budget };
    const result = compiledClosures(vars);
    if (result !== BAILED) return result;
    if (budget && before) {
      budget.remaining = before.remaining;
      if (before.had) budget.exhausted = before.exhausted;
      else delete budget.exhausted;
    }
    return planned(vars as never);
  };
}

// Operators the planner evaluates itself rather than through the function table.
const plannerOperators = new Set(["_&&_", "_||_", "_?_:_", "_[_]", "_[?_]", "_?._", "@not_strictly_false", "__not_strictly_false__"]);

function qualifiedName(e: Expr | undefined): string | undefined {
  const k = e?.exprKind;
  if (k?.case === "identExpr") return k.value.name;
  if (k?.case === "selectExpr" && !k.value.testOnly) {
    const operand = qualifiedName(k.value.operand);
    return operand === undefined ? undefined : `${operand}.${k.value.field}`;
  }
  return undefined;
}

/**
 * The first call of a function the environment does not have, in the order cel-go reports it (a
 * receiver before the call on it): a typo fails at compile, not later. A function called on a name that
 * is not declared is reported as that name, as cel-go does (`math.greatest()`: `math`).
 */
function unknownFunction(
  e: Expr,
  environment: CelEnv,
  names: ReadonlySet<string>,
): { name: string; id: bigint; atCall: boolean } | undefined {
  let below = children(e);
  let unknown: { name: string; id: bigint; atCall: boolean } | undefined;
  if (e.exprKind.case === "callExpr") {
    const { function: fn, target, args } = e.exprKind.value;
    const qualified = qualifiedName(target);
    if (qualified !== undefined && environment.funcs.find(`${qualified}.${fn}`))
      below = args; // a namespace, not a receiver
    else if (!plannerOperators.has(fn) && !environment.funcs.find(fn)) {
      const root = rootIdent(target);
      unknown =
        qualified !== undefined && root && !names.has(root.name)
          ? { name: root.name, id: root.id, atCall: false }
          : { name: fn, id: e.id, atCall: true };
    }
  }
  for (const child of below) {
    const found = unknownFunction(child, environment, names);
    if (found) return found;
  }
  return unknown;
}

function rootIdent(e: Expr | undefined): { name: string; id: bigint } | undefined {
  const k = e?.exprKind;
  if (k?.case === "identExpr") return { name: k.value.name, id: e!.id };
  if (k?.case === "selectExpr") return rootIdent(k.value.operand);
  return undefined;
}

/** The variables an expression may see; the common case, nothing else given, costs no copy. */
function onlyAllowed(vars: Record<string, unknown>, allowed: Set<string>): Record<string, unknown> {
  for (const name in vars) {
    if (!allowed.has(name)) return Object.fromEntries(Object.entries(vars).filter(([k]) => allowed.has(k)));
  }
  return vars;
}

/**
 * Parses an expression with the syntax @bufbuild/cel lacks rewritten before and the two-variable
 * comprehensions expanded after; errors point into the text as written. `origin` maps offsets of
 * the parsed text back to it when a rewrite happened.
 */
export function parseCel(expression: string): { parsed: ParsedExpr; origin?: number[] } {
  let rewritten;
  try {
    rewritten = needsRewrite(expression) ? rewriteSyntax(expression) : undefined;
  } catch (e) {
    if (e instanceof CelSyntaxError) throw new CelCompileError(e.message, expression, positionOf(expression, e.offset));
    throw e;
  }
  const inWritten = (offset: number) => positionOf(expression, rewritten ? (rewritten.origin[offset] ?? expression.length) : offset);
  let parsed: ParsedExpr | undefined;
  try {
    parsed = parse(rewritten?.text ?? expression);
    return { parsed: expandComprehensions(parsed), ...(rewritten ? { origin: rewritten.origin } : {}) };
  } catch (e) {
    if (e instanceof MacroError) {
      const offset = parsed?.sourceInfo?.positions[e.exprId.toString()];
      throw new CelCompileError(e.message, expression, offset === undefined ? undefined : inWritten(offset));
    }
    const err = e as { rawMessage?: string; message: string; location?: { start?: { offset: number; line: number; column: number } } };
    const start = err.location?.start;
    const position = start && (rewritten ? inWritten(start.offset) : start);
    throw new CelCompileError(err.rawMessage ?? err.message, expression, position);
  }
}

export function positionOf(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split("\n");
  return { line: before.length, column: before.at(-1)!.length + 1 };
}
