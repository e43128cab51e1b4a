// A faster evaluator for the CEL policies are made of: the parsed (expanded, instrumented) expression
// is compiled into nested JavaScript closures, one per node, instead of @bufbuild/cel's tree of plan
// nodes, which dispatches every call through its overload table, checks for an error after every step
// and allocates an activation per comprehension item (its interpreter was a third of the gate's time).
//
// It is a fast path, never a second semantics: it takes only the node kinds whose meaning in
// @bufbuild/cel 0.6.1's planner is simple (planner.js, access.js), computes them the planner's way for
// plain values (strings, ints, bools, maps and lists, including values.ts's views), and calls the
// environment's own functions for everything else. Whenever the planner's evaluation would meet an
// error anywhere (even one `||` or `all` would absorb), an unresolved name, a protobuf message or a
// value this file does not know, the compiled evaluation gives up (BAIL) and the caller evaluates the
// expression again with the planner, from the same budget: functions are pure and the cost budget is
// the only state, so the outcome is the planner's, exactly. Errors are rare in a policy check (has()
// guards every optional field), so the common evaluation never reaches the planner. An expression with
// a node kind this compiler does not take is planned as a whole, as before.
import {
  celList,
  celMap,
  celUint,
  isCelError,
  isCelList,
  isCelMap,
  isCelType,
  isCelUint,
  parse,
  plan,
  type CelEnv,
  type CelList,
  type CelValue,
} from "@bufbuild/cel";
import type { Expr, ParsedExpr } from "./ast.ts";
import { chargeStep, TICK } from "./cost.ts";
import { concatLists } from "./values.ts";

/** Thrown inside a compiled evaluation that must be redone by the planner. */
const BAIL: unique symbol = Symbol("bail");
/** What a compiled evaluation returns when the planner must evaluate the expression instead. */
export const BAILED: unique symbol = Symbol("bailed");

interface Scope {
  vars: Record<string, unknown>;
  /** Comprehension variables, one slot per variable a comprehension declares. */
  slots: unknown[];
}
type Node = (s: Scope) => unknown;
/** A call through the function table, also callable on values already computed (a fast path's misses). */
type Generic = Node & { withValues(vals: unknown[]): unknown };

/** Thrown at compile time: the expression has a node this compiler does not take. */
class Unsupported extends Error {}
const unsupported = (why: string): never => {
  throw new Unsupported(why);
};
const bail = (): never => {
  throw BAIL;
};

// Names the planner resolves to types when no variable has them (access.js findIdent).
const typeNames = new Set(["int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"]);

/** A value whose meaning the compiled nodes know: no protobuf message, no error. */
function isPlain(v: unknown): boolean {
  if (typeof v !== "object" || v === null) return typeof v !== "undefined" && typeof v !== "function" && typeof v !== "symbol";
  return isCelList(v) || isCelMap(v) || v instanceof Uint8Array || isCelUint(v) || isCelType(v);
}

let emptyList: unknown;
let emptyMap: unknown;
/** The planner's own empty list and map constants, as its `[]` and `{}` return them. */
function empties(env: CelEnv): void {
  emptyList ??= plan(env, parse("[]"))();
  emptyMap ??= plan(env, parse("{}"))();
}

/**
 * The expression compiled to closures, or undefined if it has a node kind this compiler does not
 * take. The result evaluates `vars` (the planner's bindings) to the planner's result, or BAILED
 * when the planner must evaluate it instead.
 */
export function compileClosures(
  env: CelEnv,
  parsed: ParsedExpr,
  variables: readonly string[],
): ((vars: Record<string, unknown>) => unknown) | undefined {
  if (env.namespace !== "") return undefined; // names would resolve through the container first
  empties(env);
  const compiler = new Compiler(env, variables);
  let root: Node;
  try {
    root = compiler.compile(parsed.expr);
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
  const slotCount = compiler.slotCount;
  return (vars) => {
    try {
      const result = root({ vars, slots: new Array(slotCount) });
      return isPlain(result) ? result : BAILED;
    } catch {
      return BAILED;
    }
  };
}

class Compiler {
  private readonly env: CelEnv;
  private readonly declared: Set<string>;
  /** Comprehension variables in scope, innermost last: name and slot. */
  private readonly scope: { name: string; slot: number }[] = [];
  slotCount = 0;

  constructor(env: CelEnv, variables: readonly string[]) {
    this.env = env;
    this.declared = new Set(variables);
  }

  compile(e: Expr): Node {
    const k = e.exprKind;
    switch (k.case) {
      case "constExpr":
        return this.constant(k.value);
      case "identExpr":
        return this.ident(k.value.name);
      case "selectExpr": {
        if (!k.value.operand) return unsupported("select without operand");
        this.checkAttributeOperand(k.value.operand, [k.value.field]);
        const operand = this.compile(k.value.operand);
        const field = k.value.field;
        return k.value.testOnly ? hasField(operand, field) : selectField(operand, field);
      }
      case "callExpr":
        return this.call(e, k.value);
      case "listExpr": {
        if (k.value.optionalIndices.length > 0) return unsupported("optional list element");
        const elements = k.value.elements.map((x) => this.compile(x));
        if (elements.length === 0) return () => emptyList;
        return (s) => {
          const values: unknown[] = new Array(elements.length);
          for (let i = 0; i < elements.length; i++) values[i] = elements[i]!(s);
          return celList(values as CelValue[]);
        };
      }
      case "structExpr":
        return this.mapLiteral(k.value);
      case "comprehensionExpr":
        return this.comprehension(k.value);
      default:
        return unsupported(`node ${String(k.case)}`);
    }
  }

  private constant(c: Extract<Expr["exprKind"], { case: "constExpr" }>["value"]): Node {
    const kind = c.constantKind;
    switch (kind.case) {
      case "stringValue":
      case "bytesValue":
      case "doubleValue":
      case "boolValue":
      case "int64Value": {
        const value = kind.value;
        return () => value;
      }
      case "uint64Value": {
        const value = celUint(kind.value);
        return () => value;
      }
      case "nullValue":
        return () => null;
      default:
        return unsupported(`constant ${String(kind.case)}`);
    }
  }

  private ident(name: string): Node {
    if (name.includes(".")) return unsupported(`name ${name}`);
    for (let i = this.scope.length - 1; i >= 0; i--) {
      const v = this.scope[i]!;
      if (v.name === name) {
        const slot = v.slot;
        return (s) => s.slots[slot];
      }
    }
    if (typeNames.has(name)) return this.typeName(name);
    if (!this.declared.has(name)) return unsupported(`undeclared name ${name}`);
    // As ObjectActivation: an absent variable is unresolved (an error, or false in has()), an error
    // is an error, and a value not already a CEL value is converted: the planner's business.
    return (s) => {
      const v = s.vars[name];
      return isPlain(v) ? v : bail();
    };
  }

  /** A type's name no variable has (`type(x) == string`): the planner's value for it, a constant. */
  private typeName(name: string): Node {
    if (this.declared.has(name)) return unsupported(`variable named as a type ${name}`);
    const value: unknown = plan(this.env, parse(name))();
    if (!isCelType(value)) return unsupported(`type name ${name}`);
    return () => value;
  }

  /**
   * The planner turns `a.b.c` and `a['b']` rooted at a name into one attribute that first looks for a
   * variable or type named "a.b.c", then "a.b", then "a", and a selection on a conditional into one on
   * each branch: taken only when no such longer name can exist.
   */
  private checkAttributeOperand(operand: Expr, fields: string[]): void {
    const k = operand.exprKind;
    if (k.case === "identExpr") {
      const registry = this.env.registry;
      for (let n = 1; n <= fields.length; n++) {
        const candidate = [k.value.name, ...fields.slice(0, n)].join(".");
        const prefix = candidate.slice(0, candidate.lastIndexOf("."));
        if ([...this.declared].some((d) => d === candidate || d.startsWith(`${candidate}.`) || d.startsWith(`${k.value.name}.`)))
          unsupported(`dotted name ${candidate}`);
        if (registry.getMessage(candidate) || registry.getEnum(prefix) || registry.getEnum(candidate))
          unsupported(`type name ${candidate}`);
      }
      return;
    }
    if (k.case === "selectExpr" && !k.value.testOnly && k.value.operand)
      return this.checkAttributeOperand(k.value.operand, [k.value.field, ...fields]);
    if (k.case === "callExpr") {
      const fn = k.value.function;
      if (fn === "_?_:_") unsupported("selection on a conditional");
      if (fn === "_[_]" && k.value.args.length === 2) {
        return this.checkAttributeOperand(k.value.args[0]!, [indexName(k.value.args[1]!), ...fields]);
      }
    }
  }

  private call(e: Expr, c: Extract<Expr["exprKind"], { case: "callExpr" }>["value"]): Node {
    const fn = c.function;
    const id = Number(e.id);
    if (c.target) {
      const qualified = qualifiedName(c.target);
      if (qualified !== undefined && this.env.funcs.find(`${qualified}.${fn}`)) {
        if (qualified.startsWith(".")) unsupported("root-scoped function");
        return this.generic(
          id,
          `${qualified}.${fn}`,
          undefined,
          c.args.map((a) => this.compile(a)),
        );
      }
    }
    switch (fn) {
      case "_&&_":
        return logical(
          c.args.map((a) => this.compile(a)),
          false,
        );
      case "_||_":
        return logical(
          c.args.map((a) => this.compile(a)),
          true,
        );
      case "_?_:_": {
        if (c.args.length !== 3) return unsupported("conditional arity");
        const [cond, t, f] = c.args.map((a) => this.compile(a)) as [Node, Node, Node];
        return (s) => {
          const v = cond(s);
          return v === true ? t(s) : v === false ? f(s) : bail();
        };
      }
      case "@not_strictly_false":
      case "__not_strictly_false__": {
        const arg = this.compile(c.args[0] ?? unsupported("arity"));
        return (s) => {
          const v = arg(s);
          return typeof v === "boolean" ? v : bail(); // an error would be absorbed: the planner's job
        };
      }
      case "_[_]": {
        if (c.target || c.args.length !== 2) return unsupported("index arity");
        this.checkAttributeOperand(c.args[0]!, [indexName(c.args[1]!)]);
        const [operand, index] = c.args.map((a) => this.compile(a)) as [Node, Node];
        return (s) => indexed(operand(s), index(s));
      }
      case "_[?_]":
      case "_?._":
        return unsupported("optional access");
    }
    const target = c.target ? this.compile(c.target) : undefined;
    const args = c.args.map((a) => this.compile(a));
    const generic = this.generic(id, fn, target, args);
    if (target) return generic;
    return this.fastCall(fn, args, generic, c.args) ?? generic;
  }

  /** A call of a standard function on plain values, done directly; `generic` for other values. */
  private fastCall(fn: string, args: Node[], generic: Generic, argExprs: Expr[]): Node | undefined {
    const [a, b] = args;
    if (args.length === 1 && a) {
      switch (fn) {
        case "dyn":
          return (s) => {
            const v = a(s);
            return typeof v === "object" && v !== null && !isCelMap(v) && !isCelList(v) ? generic(s) : v;
          };
        case "!_":
          return (s) => {
            const v = a(s);
            return typeof v === "boolean" ? !v : generic.withValues([v]);
          };
        case "size":
          return (s) => {
            const v = a(s);
            return isCelList(v) || isCelMap(v) ? BigInt(v.size) : generic.withValues([v]);
          };
      }
      return undefined;
    }
    if (args.length !== 2 || !a || !b) return undefined;
    switch (fn) {
      case TICK: {
        const units = argExprs[1]!.exprKind;
        if (units.case !== "constExpr" || units.value.constantKind.case !== "int64Value") return undefined;
        const n = units.value.constantKind.value;
        return (s) => {
          const v = a(s);
          if (!isPlain(v) || isCelUint(v) || isCelType(v)) return generic.withValues([v, n]);
          chargeStep(v, n); // throws once the budget is spent: the planner redoes it and fails the same way
          return v;
        };
      }
      case "_==_":
      case "_!=_": {
        const negate = fn === "_!=_";
        return (s) => {
          const l = a(s);
          const r = b(s);
          const t = typeof l;
          if ((t === "string" || t === "boolean" || t === "bigint") && typeof r === t) return (l === r) !== negate;
          return generic.withValues([l, r]);
        };
      }
      case "_<_":
      case "_<=_":
      case "_>_":
      case "_>=_": {
        const compare = comparisons[fn]!;
        return (s) => {
          const l = a(s);
          const r = b(s);
          const t = typeof l;
          if ((t === "string" || t === "bigint") && typeof r === t) return compare(l as string, r as string);
          return generic.withValues([l, r]);
        };
      }
      case "_+_":
        return (s) => {
          const l = a(s);
          const r = b(s);
          if (typeof l === "string" && typeof r === "string") return l + r;
          // The planner's concatenation is a view over both operands, so a map() or filter() appending
          // one element per step built a chain of views as deep as its output, each read walking it.
          return isCelList(l) && isCelList(r) ? concatLists(l, r) : generic.withValues([l, r]);
        };
      case "@in":
        return (s) => {
          const l = a(s);
          const r = b(s);
          if (typeof l === "string" && isCelList(r)) {
            let found = false;
            let allStrings = true;
            for (const v of r) {
              if (typeof v !== "string") {
                allStrings = false;
                break;
              }
              if (v === l) {
                found = true;
                break;
              }
            }
            if (allStrings) return found;
          }
          return generic.withValues([l, r]);
        };
    }
    return undefined;
  }

  /** As the planner's EvalCall: the environment's overloads, found by the values' types. */
  private generic(id: number, name: string, target: Node | undefined, args: Node[]): Generic {
    const func = this.env.funcs.find(name);
    const call = (t: unknown, vals: unknown[]) => {
      if (!func) return bail(); // the planner's "unbound function" error
      if (t !== undefined && !isPlain(t)) bail();
      for (const v of vals) if (!isPlain(v)) bail();
      const result: unknown = func.call(id, t as CelValue, vals as CelValue[]);
      return result === undefined || isCelError(result) ? bail() : result;
    };
    const node = (s: Scope) => {
      const t = target?.(s);
      const vals = new Array(args.length);
      for (let i = 0; i < args.length; i++) vals[i] = args[i]!(s);
      return call(t, vals);
    };
    return Object.assign(node, { withValues: (vals: unknown[]) => call(undefined, vals) });
  }

  private mapLiteral(m: Extract<Expr["exprKind"], { case: "structExpr" }>["value"]): Node {
    if (m.messageName !== "") return unsupported("message literal");
    if (m.entries.length === 0) return () => emptyMap;
    const keys: Node[] = [];
    const values: Node[] = [];
    for (const entry of m.entries) {
      if (entry.optionalEntry || entry.keyKind.case !== "mapKey" || !entry.value) return unsupported("map entry");
      keys.push(this.compile(entry.keyKind.value));
      values.push(this.compile(entry.value));
    }
    return (s) => {
      const entries = new Map<unknown, unknown>();
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!(s);
        const value = values[i]!(s);
        // As the planner's EvalMap: keys of these types, each once; anything else is an error.
        if (!(typeof key === "string" || typeof key === "bigint" || typeof key === "boolean") || entries.has(key)) bail();
        entries.set(key, value);
      }
      return mapOf(entries);
    };
  }

  private comprehension(c: Extract<Expr["exprKind"], { case: "comprehensionExpr" }>["value"]): Node {
    if (!c.accuInit || !c.iterRange || !c.loopCondition || !c.loopStep || !c.result) return unsupported("comprehension");
    if (typeNames.has(c.iterVar) || typeNames.has(c.accuVar) || c.iterVar.includes(".") || c.accuVar.includes("."))
      return unsupported("variable name");
    const accuInit = this.compile(c.accuInit);
    const iterRange = this.compile(c.iterRange);
    const accuSlot = this.slotCount++;
    const iterSlot = this.slotCount++;
    this.scope.push({ name: c.accuVar, slot: accuSlot });
    this.scope.push({ name: c.iterVar, slot: iterSlot });
    const cond = this.compile(c.loopCondition);
    const step = this.compile(c.loopStep);
    this.scope.pop();
    const result = this.compile(c.result);
    this.scope.pop();
    return (s) => {
      s.slots[accuSlot] = accuInit(s);
      const range = iterRange(s);
      let items: unknown[];
      if (isCelMap(range)) items = Array.from(range.keys());
      else if (isCelList(range)) items = elementsOf(range);
      else return bail();
      for (const item of items) {
        if (isCelError(item)) return bail();
        s.slots[iterSlot] = item;
        const go = cond(s);
        if (go !== true) {
          if (go === false) break;
          return bail();
        }
        s.slots[accuSlot] = step(s);
      }
      return result(s);
    };
  }
}

// celMap is typed for CEL keys; the planner builds its literal maps with it the same way.
const mapOf = (entries: Map<unknown, unknown>) => celMap(entries as never);

const comparisons: Record<string, (l: string, r: string) => boolean> = {
  "_<_": (l, r) => l < r,
  "_<=_": (l, r) => l <= r,
  "_>_": (l, r) => l > r,
  "_>=_": (l, r) => l >= r,
};

/** A list's elements, read by index: what iterating it yields, without a generator per list. */
function elementsOf(list: CelList): unknown[] {
  const size = list.size;
  const out: unknown[] = new Array(size);
  for (let i = 0; i < size; i++) out[i] = list.get(i);
  return out;
}

/** `&&` (absorbing = false) or `||` (true), for boolean operands; anything else is the planner's. */
function logical(args: Node[], absorbing: boolean): Node {
  return (s) => {
    for (const arg of args) {
      const v = arg(s);
      if (v === absorbing) return absorbing;
      if (v !== !absorbing) bail();
    }
    return !absorbing;
  };
}

function selectField(operand: Node, field: string): Node {
  return (s) => {
    const obj = operand(s);
    if (!isCelMap(obj)) return bail();
    const v = obj.get(field);
    return v === undefined ? bail() : v;
  };
}

/** has(): a map's key; false on a value that is no map or message (access.js isSet). */
function hasField(operand: Node, field: string): Node {
  return (s) => {
    const obj = operand(s);
    if (isCelMap(obj)) return obj.has(field);
    return isPlain(obj) ? false : bail();
  };
}

function indexed(obj: unknown, key: unknown): unknown {
  let v: unknown;
  if (typeof key === "string") v = isCelMap(obj) ? obj.get(key) : bail();
  else if (typeof key === "bigint") v = isCelMap(obj) ? obj.get(key) : isCelList(obj) ? obj.get(Number(key)) : bail();
  else bail();
  return v === undefined ? bail() : v;
}

/** The name an index adds to a dotted name: a constant string's; "\u0000", no name, for other keys. */
function indexName(index: Expr): string {
  const k = index.exprKind;
  return k.case === "constExpr" && k.value.constantKind.case === "stringValue" ? k.value.constantKind.value : "\u0000";
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
