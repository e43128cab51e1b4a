// cel-go's two-variable comprehensions, which Kubernetes enables since 1.32 and @bufbuild/cel 0.6.1
// parses as plain calls: `all(i, v, p)`, `exists(i, v, p)`, `existsOne(i, v, p)`,
// `transformList(i, v, [filter,] e)`, `transformMap(k, v, [filter,] e)` and
// `transformMapEntry(k, v, [filter,] e)`. Each is expanded, on the parsed expression, into the
// one-variable macros over the (index or key, value) pairs of its target (`__vigilPairs`), with the two
// variables bound by one-element maps: `[p[0]].map(i, [p[1]].map(v, e)[0])[0]`.
//
// The lists extension's `sortBy(v, key)` macro (version 2+, Kubernetes 1.34+) is expanded the same way
// as cel-go expands it: the target evaluated once and bound, its keys computed with `map`, and the
// list ordered by them: `[t].map(s, __vigilSortByKeys(s, s.map(v, key)))[0]`.
import {
  celFunc,
  celList,
  celMap,
  CelScalar,
  celType,
  isCelList,
  isCelMap,
  listType,
  parse,
  type CelFunc,
  type CelValue,
} from "@bufbuild/cel";
import { celCompare } from "./lists.ts";
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
  celFunc("__vigilSortByKeys", [DYN, DYN], listType(DYN), (list, keys) => sortByKeys(list, keys)),
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

/** cel-go's @sortByAssociatedKeys: the list ordered by the keys computed for its elements. */
function sortByKeys(list: CelValue, keys: CelValue): CelValue[] {
  if (!isCelList(list) || !isCelList(keys)) throw new Error("sortBy needs a list");
  const items = [...list];
  const keyed = [...keys];
  if (items.length !== keyed.length)
    throw new Error(
      `@sortByAssociatedKeys() expected a list of the same size as the associated keys list, but got ${items.length} and ${keyed.length} elements respectively`,
    );
  if (items.length === 0) return items;
  const type = celType(keyed[0]!).name;
  if (!comparableKeyTypes.has(type)) throw new Error("list elements must be comparable");
  if (keyed.some((k) => celType(k).name !== type)) throw new Error("list elements must have the same type");
  const order = keyed.map((_, i) => i).sort((a, b) => celCompare(keyed[a], keyed[b]));
  return order.map((i) => items[i]!);
}

// The types whose values cel-go orders (traits.Comparer).
const comparableKeyTypes = new Set([
  "int",
  "uint",
  "double",
  "string",
  "bool",
  "bytes",
  "google.protobuf.Duration",
  "google.protobuf.Timestamp",
]);

/** A macro whose form is wrong; compile.ts reports it at the node's place in the text. */
export class MacroError extends Error {
  readonly exprId: bigint;
  constructor(message: string, exprId: bigint) {
    super(message);
    this.exprId = exprId;
  }
}

const quantifiers: Record<string, string> = { all: "all", exists: "exists", existsOne: "exists_one", exists_one: "exists_one" };
const transforms = new Set(["transformList", "transformMap", "transformMapEntry"]);

/** Expands the two-variable comprehensions of a parsed expression, in place. */
export function expandComprehensions(parsed: ParsedExpr): ParsedExpr {
  let counter = 0;
  const visit = (e: Expr): Expr => {
    replaceChildren(e, visit);
    return expansion(e, () => `__vigil_pair${counter++}`) ?? sortByExpansion(e, () => counter++) ?? e;
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

/** The name sortBy's expansion binds its target to, followed by a number. */
const SORT_BY_BINDING = "__vigil_sortBy";

// The target kinds cel-go's sortBy macro takes.
const sortableTargets = new Set(["listExpr", "selectExpr", "identExpr", "comprehensionExpr", "callExpr"]);

/** The expansion of `target.sortBy(v, key)`, or undefined if `e` is not one. */
function sortByExpansion(e: Expr, counter: () => number): Expr | undefined {
  if (e.exprKind.case !== "callExpr") return undefined;
  const { function: fn, target, args } = e.exprKind.value;
  if (fn !== "sortBy" || !target || args.length !== 2) return undefined;
  if (!sortableTargets.has(target.exprKind.case ?? ""))
    throw new MacroError("sortBy can only be applied to a list, identifier, comprehension, call or select expression", target.id);
  const variable = identName(args[0]);
  if (!variable) throw new MacroError("argument is not an identifier", args[0]!.id);
  const s = `${SORT_BY_BINDING}${counter()}`;
  const template = `[__vigil_graft0].map(${s}, __vigilSortByKeys(${s}, ${s}.map(${variable}, __vigil_graft1)))[0]`;
  const expanded = graft(parse(template).expr, [target, args[1]!], nextTemplateId);
  sortByExpansions.set(expanded, { callId: e.id, target, variable, key: args[1]! });
  return expanded;
}

/** What each sortBy expansion was written as, for the type check (typecheck.ts). */
export const sortByExpansions = new WeakMap<Expr, { callId: bigint; target: Expr; variable: string; key: Expr }>();

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
