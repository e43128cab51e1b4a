// The CEL environment policies are evaluated in: Kubernetes' JSON-to-CEL typing, errors, positions.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { isCelError, isCelList, plan } from "@bufbuild/cel";
import {
  CelCompileError,
  CelCostError,
  CelEvalError,
  celEnvironment,
  compileCel,
  parseCel,
  toCel,
  type CelBudget,
} from "../src/policy/cel/compile.ts";
import { charging, instrument } from "../src/policy/cel/cost.ts";
import { resolveRootsOnce } from "../src/policy/cel/roots.ts";

const evaluate = (expr: string, object: unknown) => compileCel(expr, ["object"]).evaluate({ object: toCel(object) });

describe("CEL environment", () => {
  it("types YAML integers as int and fractions as double, as Kubernetes does", () => {
    assert.equal(evaluate("object.replicas == 3 && type(object.replicas) == int", { replicas: 3 }), true);
    assert.equal(evaluate("type(object.ratio) == double", { ratio: 1.5 }), true);
  });

  it("raises an error for a missing field, which has() avoids", () => {
    assert.throws(() => evaluate("object.spec.missing == 1", { spec: {} }), CelEvalError);
    assert.equal(evaluate("!has(object.spec.missing)", { spec: {} }), true);
  });

  it("offers the strings extension", () => {
    assert.equal(evaluate("object.name.lowerAscii().startsWith('web') && object.name.split('-').size() == 2", { name: "WEB-1" }), true);
  });

  it("reports where an expression does not compile", () => {
    assert.throws(
      () => compileCel("object.a <=", ["object"]),
      (e: unknown) => e instanceof CelCompileError && e.line === 1 && (e.column ?? 0) > 1,
    );
  });

  it("stops once the evaluation budget is spent", () => {
    const p = compileCel("true", ["object"]);
    assert.throws(() => p.evaluate({}, { remaining: 0 }), CelCostError);
  });
});

describe("CEL regular expressions", () => {
  it("match with RE2 in linear time: a pattern that backtracks exponentially in JavaScript returns at once", () => {
    assert.equal(evaluate(`object.value.matches('^(a+)+$')`, { value: "a".repeat(5000) + "b" }), false);
  });

  it("refuse what RE2 does not accept (lookbehind, backreferences) with an evaluation error", () => {
    assert.throws(() => evaluate("object.v.matches('(?<=a)x')", { v: "ax" }), CelEvalError);
    assert.throws(() => evaluate("object.v.matches('(a)\\\\1')", { v: "aa" }), CelEvalError);
  });
});

describe("CEL runtime cost limit", () => {
  const ten = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]";
  const nested = (depth: number): string => (depth === 0 ? "x" : `${ten}.map(x, ${nested(depth - 1)})`);

  it("stops a runaway comprehension at the budget instead of running it to the end", () => {
    const runaway = compileCel(`${nested(7)}.size() > 0`, ["object"]);
    const budget = { remaining: 1_000_000 };
    assert.throws(
      () => runaway.evaluate({}, budget),
      (e: unknown) => e instanceof CelCostError && /budget is exhausted/.test(e.message),
    );
  });

  it("is not fooled by an error absorbed in || or exists()", () => {
    const absorbing = compileCel(`true || ${nested(7)}.size() > 0 || ${ten}.exists(i, ${nested(6)}.size() > 0)`, ["object"]);
    assert.equal(absorbing.evaluate({}, { remaining: 1_000_000 }), true, "short-circuited: nothing spent");
    const late = compileCel(`${ten}.exists(i, ${nested(6)}.size() < 0) || true`, ["object"]);
    assert.throws(() => late.evaluate({}, { remaining: 1_000_000 }), CelCostError);
  });

  it("charges string growth, so doubling a string in nested binds is stopped too", () => {
    let expr = "s";
    for (let i = 0; i < 30; i++) expr = `cel.bind(s, s + s, ${expr})`;
    const doubling = compileCel(`cel.bind(s, 'abcdefgh', ${expr}).size() > 0`, ["object"]);
    assert.throws(() => doubling.evaluate({}, { remaining: 1_000_000 }), CelCostError);
  });

  it("lets an ordinary policy expression through with room to spare", () => {
    const ordinary = compileCel("object.containers.all(c, c.image.contains('@sha256:') && c.name.size() < 64)", ["object"]);
    const budget = { remaining: 10_000 };
    const containers = Array.from({ length: 20 }, (_, i) => ({ name: `c${i}`, image: `r/i@sha256:${i}` }));
    assert.equal(ordinary.evaluate({ object: toCel({ containers }) }, budget), true);
    assert.ok(budget.remaining > 9_000, `spent ${10_000 - budget.remaining}`);
  });
});

const elements = (v: unknown): unknown => (isCelList(v) ? [...v].map(elements) : v);

describe("CEL compiled to closures (closures.ts)", () => {
  // The interpreter alone, as compileCel ran expressions before: the reference for results and cost.
  const interpreted = (expression: string, object: unknown, budget: CelBudget): unknown => {
    budget.remaining -= 1; // compileCel's charge per expression
    const evaluate = plan(celEnvironment(), resolveRootsOnce(instrument(parseCel(expression).parsed), ["object"]));
    return charging(budget, () => evaluate({ object: toCel(object) }));
  };
  const object = {
    kind: "Pod",
    containers: Array.from({ length: 5 }, (_, i) => ({ name: `c${i}`, image: `r/i:${i}`, ports: [{ containerPort: 80 + i }] })),
  };
  const ten = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]";

  it("gives the interpreter's result and charges its cost, also when it hands an evaluation back part way", () => {
    const expressions = [
      "object.containers.filter(c, c.image.startsWith('r/')).map(c, c.name + '!')",
      "object.containers.all(c, c.ports.exists(p, p.containerPort >= 82)) || size(object.containers) == 5",
      "object.missing == 1 || object.containers.exists(c, c.name == 'c3')", // an error absorbed: handed back
      "object.containers.map(c, c.missing).size() > 0 || true", // an error absorbed after spending
      `${ten}.map(x, ${ten}.map(y, ${ten}.map(z, x + y + z))).size()`, // exhausts the budget
      "object.kind in ['Pod', 'Job'] && !(object.kind == 'Job') ? {'k': object.kind}['k'] : 'no'",
    ];
    for (const expression of expressions) {
      const program = compileCel(expression, ["object"]);
      const compiledBudget: CelBudget = { remaining: 20_000 };
      const referenceBudget: CelBudget = { remaining: 20_000 };
      let compiledOutcome: unknown;
      try {
        compiledOutcome = program.evaluate({ object: toCel(object) }, compiledBudget);
      } catch (e) {
        compiledOutcome = e instanceof CelCostError ? "cost" : `error ${(e as Error).message}`;
      }
      const reference = interpreted(expression, object, referenceBudget);
      const referenceOutcome = referenceBudget.exhausted ? "cost" : isCelError(reference) ? `error ${reference.message}` : reference;
      // The same CEL value: a list's elements, whatever class carries them (the interpreter's
      // concatenation is a view over both operands, the closures' a flat list).
      assert.deepEqual(elements(compiledOutcome), elements(referenceOutcome), expression);
      assert.deepEqual(compiledBudget, referenceBudget, expression);
    }
  });
});

describe("CEL optional types and cel.bind (rewritten before parsing)", () => {
  const object = { spec: { replicas: 3, list: [1, 2], labels: { app: "web" } } };
  const cases: [string, unknown][] = [
    ["object.?spec.?replicas.orValue(1)", 3n],
    ["object.?spec.?missing.orValue(1)", 1n],
    ["object.?status.?ready.hasValue()", false],
    ["object.?spec.labels.app.value()", "web"], // optional access is viral along the chain
    ["object.?spec.labels.team.orValue('none')", "none"],
    ["object.spec.labels[?'app'].orValue('')", "web"],
    ["object.spec.list[?5].hasValue() || object.spec.list[?-1].hasValue()", false],
    ["object.spec.list[?1].value()", 2n],
    ["optional.none().or(object.?spec.?replicas).value()", 3n],
    ["optional.ofNonZeroValue('').hasValue() || optional.ofNonZeroValue([]).hasValue()", false],
    ["object.?spec.?replicas.optMap(r, r * 2).value()", 6n],
    ["object.?spec.?nothing.optMap(r, r * 2).hasValue()", false],
    ["object.?spec.?list.optFlatMap(l, l[?0]).value()", 1n],
    ["size([?object.?spec.?nothing, 1, ?object.?spec.?replicas])", 2n],
    ["{?'a': object.?spec.?nothing, ?'b': object.?spec.?replicas} == {'b': 3}", true],
    ["optional.unwrap([optional.of(1), optional.none()]) == [1]", true],
    ["object.?spec.?replicas == optional.of(3)", true],
    ["cel.bind(r, object.spec.replicas, r * r + r)", 12n],
    ["cel.bind(a, 1, cel.bind(b, a + 1, [a, b]))[1]", 2n],
    ["object.spec.replicas > 2 ? 'many' : 'few'", "many"], // a conditional is not optional syntax
    ["'what?'.endsWith('?') && \"a.?b\".size() == 4", true], // nor is a ? in a string
  ];
  for (const [expr, expected] of cases) {
    it(expr, () => assert.deepEqual(evaluate(expr, object), expected));
  }

  it("fails value() on none with an evaluation error", () => {
    assert.throws(() => evaluate("object.?spec.?missing.value()", object), /value\(\) called on optional.none\(\)/);
  });

  it("reports compile errors at their position in the text as written", () => {
    // Column 28 is the "+" the parser stops at, counted in the original text, not the rewritten one.
    assert.throws(
      () => compileCel("object.?spec.?a.orValue(1) +* 2", ["object"]),
      (e: unknown) => e instanceof CelCompileError && e.line === 1 && e.column === 28,
    );
    assert.throws(
      () => compileCel("cel.bind(x, 1)", ["object"]),
      (e: unknown) => e instanceof CelCompileError && /three arguments/.test(e.message),
    );
  });
});

describe("CEL two-variable comprehensions (Kubernetes 1.32+)", () => {
  const object = {
    containers: [
      { name: "a", port: 80 },
      { name: "b", port: 8080 },
    ],
    labels: { app: "web", tier: "front" },
  };
  const cases: [string, unknown][] = [
    ["object.containers.all(i, c, c.port > i)", true],
    ["object.labels.exists(k, v, k == 'tier' && v == 'front')", true],
    ["object.labels.existsOne(k, v, v.startsWith('w'))", true],
    ["object.containers.transformList(i, c, c.name + string(i)) == ['a0', 'b1']", true],
    ["object.containers.transformList(i, c, c.port > 100, c.name) == ['b']", true],
    ["object.labels.transformMap(k, v, v.upperAscii()) == {'app': 'WEB', 'tier': 'FRONT'}", true],
    ["object.labels.transformMap(k, v, k != 'app', v) == {'tier': 'front'}", true],
    ["object.labels.transformMapEntry(k, v, {v: k}) == {'web': 'app', 'front': 'tier'}", true],
    ["object.containers.all(i, c, object.containers.all(j, d, i == j || c.name != d.name))", true],
  ];
  for (const [expr, expected] of cases) {
    it(expr, () => assert.deepEqual(evaluate(expr, object), expected));
  }

  it("refuses transformMapEntry results that collide", () => {
    assert.throws(() => evaluate("object.labels.transformMapEntry(k, v, {'same': v})", object), /duplicate key same/);
  });
});

describe("CEL function names", () => {
  it("refuse an undeclared function at compile time, with its position, instead of failing later", () => {
    assert.throws(
      () => compileCel("object.name.lowerAsci() == 'x'", ["object"]),
      (e: unknown) => e instanceof CelCompileError && /undeclared reference to 'lowerAsci'/.test(e.message) && e.column === 22,
    );
    assert.throws(
      () => compileCel("object.?a.orValue(1) + nosuch(2)", ["object"]),
      (e: unknown) => e instanceof CelCompileError && e.column === 30,
    );
  });
});
