// The CEL environment for ValidatingAdmissionPolicy expressions, on @bufbuild/cel (a conformant CEL
// implementation in TypeScript) with its strings extension.
//
// Known gaps, each reported rather than silently passed: @bufbuild/cel 0.6.1 has no optional syntax
// (`object.?field`) — such an expression fails to compile with its position; the Kubernetes libraries
// (quantity, IP/CIDR, URLs, format, lists/sets extensions, regex find) are not registered yet, so a
// policy using them fails to compile or errors at evaluation and its failurePolicy applies; and the
// library has no evaluation hook for a runtime cost limit, so the budget is charged per expression
// rather than per step (see docs/policy-gate.md).
import { celEnv, isCelError, parse, plan, type CelEnv } from "@bufbuild/cel";
import { kubernetesLibraries } from "./libraries.ts";

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

export interface CelBudget {
  remaining: number;
}

export interface CelProgram {
  readonly expression: string;
  evaluate(vars: Record<string, unknown>, budget?: CelBudget): unknown;
}

/** Cost charged per evaluation of one expression, against the policy's budget. */
const EXPRESSION_COST = 1;

let env: CelEnv | undefined;
const environment = () => (env ??= celEnv({ funcs: [...kubernetesLibraries] }));

/** Compiles once; `variables` are the names an expression may use. Throws CelCompileError with the position. */
export function compileCel(expression: string, variables: readonly string[]): CelProgram {
  let parsed;
  try {
    parsed = parse(expression);
  } catch (e) {
    const err = e as { rawMessage?: string; message: string; location?: { start?: { line: number; column: number } } };
    throw new CelCompileError(err.rawMessage ?? err.message, expression, err.location?.start);
  }
  const evaluate = plan(environment(), parsed);
  const allowed = new Set(variables);
  return {
    expression,
    evaluate(vars, budget) {
      if (budget) {
        budget.remaining -= EXPRESSION_COST;
        if (budget.remaining < 0) throw new CelCostError("the policy's evaluation cost budget is exhausted", expression);
      }
      const bindings = Object.fromEntries(Object.entries(vars).filter(([k]) => allowed.has(k)));
      const result = evaluate(bindings as never);
      if (isCelError(result)) throw new CelEvalError(result.message, expression);
      return result;
    },
  };
}

/** YAML/JSON values to CEL input: integral numbers are ints (bigint), as Kubernetes' JSON-to-CEL makes them. */
export function toCel(value: unknown): unknown {
  if (typeof value === "number") return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === "object" && !(value instanceof Map) && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCel(v)]));
  }
  return value;
}
