// The API server's type check at creation, offline (the comparison with the real API server is in
// test/policy-differential.test.ts): what is declared where, and refusals in cel-go's words and
// positions, exit 2 naming the policy and field.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { InputError } from "../src/core/errors.ts";
import { typeCheck } from "../src/policy/cel/typecheck.ts";
import { compilePolicy } from "../src/policy/vap.ts";

const everything = { params: true, authorizer: true, variables: new Map() };

function refusal(expression: string, declarations = everything, expected: "bool" | "string" | "any" = "bool") {
  const { problem } = typeCheck(expression, declarations, expected);
  return problem && `${problem.line ?? "-"}:${problem.column ?? "-"} ${problem.message}`;
}

describe("type check at creation", () => {
  it("refuses a method on the wrong type, at the call's parenthesis", () => {
    assert.equal(refusal("1.startsWith('a')"), "1:13 found no matching overload for 'startsWith' applied to 'int.(string)'");
    assert.equal(refusal("object.x.startsWith(1)"), "1:20 found no matching overload for 'startsWith' applied to 'dyn.(int)'");
  });

  it("knows request and namespaceObject fields, and params only with a paramKind", () => {
    assert.equal(refusal("request.foo == 1"), "1:8 undefined field 'foo'");
    assert.equal(refusal("namespaceObject.metadata.labels['a'] == 'b'"), undefined);
    assert.equal(refusal("params.x == 1", { ...everything, params: false }), "1:1 undeclared reference to 'params' (in container '')");
  });

  it("types variables from their expressions, and object types there become dyn", () => {
    const variables = new Map([["name", { kind: "prim", name: "string" } as const]]);
    assert.equal(
      refusal("variables.name == 1", { ...everything, variables }),
      "1:16 found no matching overload for '_==_' applied to '(string, int)'",
    );
    assert.equal(refusal("variables.other == 1", { ...everything, variables }), "1:10 undefined field 'other'");
  });

  it("requires the field's result type, dyn included", () => {
    assert.equal(refusal("object.spec.replicas"), "-:- must evaluate to bool but got dyn");
    assert.equal(refusal("object.metadata.name", everything, "string"), "-:- must evaluate to string but got dyn");
    assert.equal(refusal("string(object.metadata.name)", everything, "string"), undefined);
  });

  it("requires literals of one type, a dyn first element too", () => {
    assert.equal(refusal("[dyn('x'), 1].size() == 2"), "1:12 expected type 'dyn' but found 'int'");
    assert.equal(refusal("[[1], ['a']].size() == 2"), "1:7 expected type 'list(int)' but found 'list(string)'");
  });

  it("types two-variable comprehensions by index or key, then value", () => {
    assert.equal(refusal("[1].all(i, v, i == 'a')"), "1:17 found no matching overload for '_==_' applied to '(int, string)'");
    assert.equal(refusal("{'a': 1}.all(k, v, k == 'a' && v > 0)"), undefined);
  });

  it("accepts what the API server accepts: dyn mixes in conditionals and comparisons, optionals, libraries", () => {
    for (const ok of [
      "(true ? 1 : object.x) == 'a'",
      "object.?spec.?replicas.orValue(1) > 0",
      "1 < 1.0",
      "quantity('1').isLessThan(quantity('2'))",
      "authorizer.requestResource.check('get').allowed()",
    ]) {
      assert.equal(refusal(ok), undefined, ok);
    }
  });

  it("refuses cel.bind, which the API server v1.37 does not declare", () => {
    assert.equal(refusal("cel.bind(x, 1, x == 1)"), "1:1 undeclared reference to 'cel' (in container '')");
  });

  it("makes a policy with a type error an input error naming the policy, field and position", () => {
    const policy = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: "typed" },
      spec: { validations: [{ expression: "true", messageExpression: "authorizer.path('/').check('get').reason()" }] },
    };
    assert.throws(
      () => compilePolicy({ object: policy, file: "p.yaml", line: 3 }),
      (e: unknown) =>
        e instanceof InputError &&
        e.exitCode === 2 &&
        /policy typed: spec\.validations\[0\]\.messageExpression does not compile at line 1, column 1: undeclared reference to 'authorizer'/.test(
          e.message,
        ),
    );
  });
});
