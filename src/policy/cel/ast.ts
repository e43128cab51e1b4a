// Walking and rewriting @bufbuild/cel's parsed expressions (cel.expr.Expr), for the passes compile.ts
// runs between parsing and planning: comprehension expansion, the function check, cost instrumentation.
import { parse } from "@bufbuild/cel";

export type ParsedExpr = ReturnType<typeof parse>;
export type Expr = ParsedExpr["expr"];

const comprehensionParts = ["iterRange", "accuInit", "loopCondition", "loopStep", "result"] as const;

/** Replaces each direct sub-expression `c` of `e` by `replace(c)`, in place. */
export function replaceChildren(e: Expr, replace: (child: Expr) => Expr): void {
  const k = e.exprKind;
  switch (k.case) {
    case "callExpr":
      if (k.value.target) k.value.target = replace(k.value.target);
      k.value.args = k.value.args.map(replace);
      return;
    case "selectExpr":
      if (k.value.operand) k.value.operand = replace(k.value.operand);
      return;
    case "listExpr":
      k.value.elements = k.value.elements.map(replace);
      return;
    case "structExpr":
      for (const entry of k.value.entries) {
        if (entry.keyKind.case === "mapKey") entry.keyKind.value = replace(entry.keyKind.value);
        if (entry.value) entry.value = replace(entry.value);
      }
      return;
    case "comprehensionExpr":
      for (const part of comprehensionParts) {
        const child = k.value[part];
        if (child) k.value[part] = replace(child);
      }
      return;
  }
}

/** The direct sub-expressions of `e`. */
export function children(e: Expr): Expr[] {
  const found: Expr[] = [];
  replaceChildren(e, (child) => {
    found.push(child);
    return child;
  });
  return found;
}

export const identName = (e: Expr | undefined) => (e?.exprKind.case === "identExpr" ? e.exprKind.value.name : undefined);

/**
 * `operand` wrapped in the call `template` names, whose first argument is written `x`
 * ("dyn(x)", "f(x, 3)"); the new nodes get ids from `nextId`, clear of the parser's own.
 */
export function wrapInCall(template: string, operand: Expr, nextId: () => bigint): Expr {
  const call = parse(template).expr;
  if (call.exprKind.case !== "callExpr") throw new Error(`not a call template: ${template}`);
  call.id = nextId();
  const args = call.exprKind.value.args;
  for (const arg of args.slice(1)) arg.id = nextId();
  args[0] = operand;
  return call;
}
