// A runtime cost limit for CEL, like the API server's: @bufbuild/cel has no evaluation hook, so the
// parsed expression is instrumented instead. Each comprehension step is charged the number of
// operations in its body, and each `+` (the one operator that can grow a string or list without
// bound inside one step) the size of what it built; the charge goes to the budget of the evaluation
// in progress, and once the budget is spent every further step fails, so a runaway expression stops
// within one step of its limit instead of hanging the check.
import { celFunc, CelScalar, isCelList, type CelFunc } from "@bufbuild/cel";
import { children, replaceChildren, wrapInCall, type Expr, type ParsedExpr } from "./ast.ts";

export interface CelBudget {
  remaining: number;
  /** Set once spent: an error inside `||` or `exists` may be absorbed, the exhaustion may not. */
  exhausted?: boolean;
}

export const TICK = "__vigilCost";
let current: CelBudget | undefined;

/** Runs `evaluate` with `budget` as the one charged by instrumented expressions. */
export function charging<T>(budget: CelBudget | undefined, evaluate: () => T): T {
  const outer = current;
  current = budget;
  try {
    return evaluate();
  } finally {
    current = outer;
  }
}

/** The budget evaluations are charged to now, if any. */
export const currentBudget = (): CelBudget | undefined => current;

function charge(units: number): void {
  if (!current) return;
  current.remaining -= units;
  if (current.remaining < 0) {
    current.exhausted = true;
    throw new Error("the evaluation cost budget is exhausted");
  }
}

function sizeOf(v: unknown): number {
  if (typeof v === "string") return v.length;
  if (isCelList(v)) return v.size;
  if (v instanceof Uint8Array) return v.length;
  return 0;
}

/** What one `__vigilCost(value, units)` charges; throws once the budget is spent. */
export function chargeStep(value: unknown, units: bigint): void {
  charge(Number(units) + Math.ceil(sizeOf(value) / 8));
}

export const costFunctions: readonly CelFunc[] = [
  celFunc(TICK, [CelScalar.DYN, CelScalar.INT], CelScalar.DYN, (value, units) => {
    chargeStep(value, units);
    return value;
  }),
];

/** The number of nodes in an expression: roughly what one evaluation of it costs. */
function operations(e: Expr): number {
  return children(e).reduce((n, child) => n + operations(child), 1);
}

/** Instruments a parsed expression in place: comprehension steps and every `+` are charged. */
export function instrument(parsed: ParsedExpr): ParsedExpr {
  let id = 1n << 40n;
  const nextId = () => ++id;
  // Returns the expression to put in e's place: e itself, or e wrapped in a charge.
  const visit = (e: Expr): Expr => {
    replaceChildren(e, visit);
    const k = e.exprKind;
    if (k.case === "comprehensionExpr" && k.value.loopStep) {
      k.value.loopStep = wrapInCall(`${TICK}(x, ${operations(k.value.loopStep)})`, k.value.loopStep, nextId);
    }
    return k.case === "callExpr" && k.value.function === "_+_" ? wrapInCall(`${TICK}(x, 1)`, e, nextId) : e;
  };
  parsed.expr = visit(parsed.expr);
  return parsed;
}
