// The CEL environment policies are evaluated in: Kubernetes' JSON-to-CEL typing, errors, positions.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { CelCompileError, CelCostError, CelEvalError, compileCel, toCel } from "../src/policy/cel/compile.ts";

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
    assert.throws(() => compileCel("object.a <=", ["object"]), (e: unknown) => e instanceof CelCompileError && e.line === 1 && (e.column ?? 0) > 1);
  });

  it("stops once the evaluation budget is spent", () => {
    const p = compileCel("true", ["object"]);
    assert.throws(() => p.evaluate({}, { remaining: 0 }), CelCostError);
  });
});
