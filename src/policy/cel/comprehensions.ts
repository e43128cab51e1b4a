// cel-go's two-variable comprehensions, which Kubernetes enables since 1.32 and @bufbuild/cel 0.6.1
// parses as plain calls: `all(i, v, p)`, `exists(i, v, p)`, `existsOne(i, v, p)`,
// `transformList(i, v, [filter,] e)`, `transformMap(k, v, [filter,] e)` and
// `transformMapEntry(k, v, [filter,] e)`. Each is expanded, on the parsed expression, into the
// one-variable macros over the (index or key, value) pairs of its target (`__vigilPairs`), with the two
// variables bound by one-element maps: `[p[0]].map(i, [p[1]].map(v, e)[0])[0]`.
import { celFunc, celList, celMap, CelScalar, isCelList, isCelMap, listType, parse, type CelFunc, type CelValue } from "@bufbuild/cel";
import { identName, replaceChildren, type Expr, type ParsedExpr } from "./ast.ts";

const DYN = CelScalar.DYN;

function pairs(target: CelValue): CelValue[][] {
  if (isCelList(target)) return [...target].map((v, i) => [BigInt(i), v]);
  if (isCelMap(target)) return [...target.entries()].map(([k, v]) => [k as CelValue, v]);
  throw new Error("a two-variable comprehension needs a list or a map");
}

export const comprehensionFunctions: readonly CelFunc[] = [
  celFunc("__vigilPairs", [DYN], listType(DYN), (target) => pairs(target).map((p) => celList(p))),
  celFunc("__vigilPairsToMap", [listType(DYN)], DYN, (list) =>
    celMap(
      new Map(
        [...list].map((p) => {
          const pair = p as unknown as { get(i: number): CelValue };
          return [pair.get(0) as string, pair.get(1)!];
        }),
      ),
    ),
  ),
  celFunc("__vigilMergeEntries", [listType(DYN)], DYN, (list) => {
    const out = new Map<string, CelValue>();
    for (const entry of list) {
      if (!isCelMap(entry)) throw new Error("transformMapEntry's expression must return a map");
      for (const [k, v] of entry.entries()) {
        if (out.has(k as string)) throw new Error(`transformMapEntry: duplicate key ${String(k)}`);
        out.set(k as string, v);
      }
    }
    return celMap(out);
  }),
];

const quantifiers: Record<string, string> = { all: "all", exists: "exists", existsOne: "exists_one", exists_one: "exists_one" };
const transforms = new Set(["transformList", "transformMap", "transformMapEntry"]);

/** Expands the two-variable comprehensions of a parsed expression, in place. */
export function expandComprehensions(parsed: ParsedExpr): ParsedExpr {
  let counter = 0;
  const visit = (e: Expr): Expr => {
    replaceChildren(e, visit);
    return expansion(e, () => `__vigil_pair${counter++}`) ?? e;
  };
  parsed.expr = visit(parsed.expr);
  return parsed;
}

/** The expansion of a two-variable comprehension call, or undefined if `e` is not one. */
function expansion(e: Expr, pairName: () => string): Expr | undefined {
  if (e.exprKind.case !== "callExpr") return undefined;
  const { function: fn, target, args } = e.exprKind.value;
  const first = identName(args[0]);
  const second = identName(args[1]);
  if (!target || !first || !second) return undefined;
  const quantifier = quantifiers[fn];
  const isTransform = transforms.has(fn);
  if (!(quantifier && args.length === 3) && !(isTransform && (args.length === 3 || args.length === 4))) return undefined;

  const p = pairName();
  const grafts: Expr[] = [target];
  const bound = (body: Expr) => {
    grafts.push(body);
    return `[${p}[0]].map(${first}, [${p}[1]].map(${second}, __vigil_graft${grafts.length - 1})[0])[0]`;
  };
  const pairsOf = "__vigilPairs(__vigil_graft0)";
  let template: string;
  if (quantifier) {
    template = `${pairsOf}.${quantifier}(${p}, ${bound(args[2]!)})`;
  } else {
    const filtered = args.length === 4 ? `${pairsOf}.filter(${p}, ${bound(args[2]!)})` : pairsOf;
    const body = bound(args[args.length - 1]!);
    template =
      fn === "transformList"
        ? `${filtered}.map(${p}, ${body})`
        : fn === "transformMap"
          ? `__vigilPairsToMap(${filtered}.map(${p}, [${p}[0], ${body}]))`
          : `__vigilMergeEntries(${filtered}.map(${p}, ${body}))`;
  }
  return graft(parse(template).expr, grafts, nextTemplateId);
}

// Template nodes get ids of their own, apart from the ids the parser gave the policy's expression.
let templateId = 1n << 36n;
const nextTemplateId = () => ++templateId;

/** Replaces the `__vigil_graftN` identifiers of a template by the given expressions. */
function graft(e: Expr, grafts: Expr[], nextId: () => bigint): Expr {
  const name = identName(e);
  const m = name ? /^__vigil_graft(\d+)$/.exec(name) : null;
  if (m) return grafts[Number(m[1])]!;
  e.id = nextId();
  replaceChildren(e, (child) => graft(child, grafts, nextId));
  return e;
}
