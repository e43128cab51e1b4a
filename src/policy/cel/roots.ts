// @bufbuild/cel resolves `a.b.c` as CEL's name resolution asks of an unchecked expression: it first
// looks for a variable or type named "a.b.c", then "a.b", then "a", on every evaluation. Policies'
// variables (object, params, variables, comprehension variables…) never contain dots and no protobuf
// types are declared for policies, so only "a" can ever resolve; the other lookups were about a sixth
// of the gate's time. Wrapping the root in dyn(), which returns its argument unchanged, makes the
// planner resolve "a" once and apply the field accesses to its value.
import { identName, replaceChildren, wrapInCall, type Expr, type ParsedExpr } from "./ast.ts";

/** Rewrites, in place, every `root.field` whose root is one of `roots` or a comprehension variable. */
export function resolveRootsOnce(parsed: ParsedExpr, roots: readonly string[]): ParsedExpr {
  const names = new Set(roots);
  collectComprehensionVariables(parsed.expr, names);
  let id = 1n << 48n;
  const nextId = () => ++id;
  const visit = (e: Expr): Expr => {
    replaceChildren(e, visit);
    const k = e.exprKind;
    if (k.case === "selectExpr" && !k.value.testOnly) {
      const root = identName(k.value.operand);
      if (root !== undefined && names.has(root)) k.value.operand = wrapInCall("dyn(x)", k.value.operand!, nextId);
    }
    return e;
  };
  parsed.expr = visit(parsed.expr!);
  return parsed;
}

export function collectComprehensionVariables(e: Expr, into: Set<string>): void {
  const k = e.exprKind;
  if (k.case === "comprehensionExpr") {
    into.add(k.value.iterVar);
    into.add(k.value.accuVar);
  }
  replaceChildren(e, (child) => {
    collectComprehensionVariables(child, into);
    return child;
  });
}
