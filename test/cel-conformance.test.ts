// The CEL conformance suite (google/cel-spec's simple tests, as @bufbuild/cel-spec ships them) run
// against the CEL Vigil evaluates policies with: an expression is parsed by compile.ts's parseCel
// (syntax rewrite, @bufbuild/cel's parse, expansion of two-variable comprehensions), instrumented for
// cost, and planned in compile.ts's celEnvironment with the conformance test messages and the test's
// container added.
// It says which CEL semantics a policy author can rely on; KNOWN_FAILURES says, by cause, where
// Vigil's CEL departs from the spec.
//
// A test is judged as cel/expr/conformance/test/simple.proto defines: an expected value must be equal
// including its type (1 is not 1u), maps regardless of order, NaN matching NaN; an expected error
// matches any evaluation error (error texts are implementation-specific); no matcher means `true`.
// Expectations that need a type checker (@bufbuild/cel 0.6.1 exposes none) are judged on the
// evaluation result only: a typed_result's deduced type is not compared, and a check_only test (one
// with no evaluation, only a deduced type) must parse and plan. For the same reason compileCel's
// checker-like refusal of undeclared functions is not applied: it turns an evaluation error into a
// compile error, and these tests judge evaluation (some run with disable_check).
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import {
  celList,
  celMap,
  celUint,
  isCelError,
  isCelList,
  isCelMap,
  isCelType,
  isCelUint,
  plan,
  type CelEnv,
  type CelInput,
  type CelResult,
  type CelUint,
} from "@bufbuild/cel";
import { getTestRegistry } from "@bufbuild/cel-spec/testdata/registry.js";
import { getConformanceSuite, type IncrementalTest, type IncrementalTestSuite } from "@bufbuild/cel-spec/testdata/tests.js";
import { ValueSchema, type MapValue_Entry, type Value } from "@bufbuild/cel-spec/cel/expr/value_pb.js";
import type { ExprValue } from "@bufbuild/cel-spec/cel/expr/eval_pb.js";
import { create, equals, toJson, type MessageInitShape } from "@bufbuild/protobuf";
import { isReflectMessage } from "@bufbuild/protobuf/reflect";
import { anyPack, AnySchema, anyUnpack, NullValue } from "@bufbuild/protobuf/wkt";
import { celEnvironment, parseCel } from "../src/policy/cel/compile.ts";
import { BAILED, compileClosures } from "../src/policy/cel/closures.ts";
import { instrument } from "../src/policy/cel/cost.ts";
import { resolveRootsOnce } from "../src/policy/cel/roots.ts";

/**
 * Conformance tests that fail with @bufbuild/cel 0.6.1 and Vigil's libraries, by cause, then by
 * "file/section" of the data: "all" its tests, or the names of those that fail ("name#2" is a name's
 * second occurrence in a section). Each listed test must still fail, so that a fix updates this list.
 */
const KNOWN_FAILURES: Record<string, Record<string, readonly string[] | "all">> = {
  // Vigil rewrites the optional syntax into calls (syntax.ts) and implements optional values over maps and
  // lists (optional.ts), the only aggregates Kubernetes objects have; optional fields in protobuf message
  // literals and `.?` on messages are a protobuf feature Kubernetes policies never use.
  "optionals on proto messages": {
    "optionals/optionals": [
      "has_optional_ofNonZeroValue_struct_optional_ofNonZeroValue_map_optindex_field",
      "optional_ofNonZeroValue_struct_optional_ofNonZeroValue_map_optindex_field",
      "struct_map_optindex_field",
      "struct_optional_ofNonZeroValue_map_optindex_field",
      "struct_map_optindex_field_nested",
      "empty_struct_optindex_hasValue",
      "optional_empty_struct_optindex_hasValue",
      "struct_optindex_value",
      "optional_struct_optindex_value",
      "optional_struct_optindex_index_value",
    ],
  },
  // has() over an optional selection fails to compile, because the rewrite turns the selection into a
  // call the has() macro does not take; has() of a plain selection on an optional value likewise.
  "has() through optionals": {
    "optionals/optionals": ["has_map_optindex", "has_map_optindex_field", "optional_chaining_9"],
  },
  // Optional values travel as opaque maps (opaque.ts): type() of one is map, and optional_type is no type.
  "optional type name": {
    "optionals/optionals": ["type"],
  },
  // Field names quoted in backticks (a.`b-c`), a newer CEL syntax @bufbuild/cel 0.6.1 does not parse.
  "backtick-quoted fields": {
    "fields/quoted_map_fields": "all",
    "proto2/quoted_fields": "all",
    "proto3/quoted_fields": "all",
  },
  // Strong enum typing (a proto enum value has its enum type): @bufbuild/cel has CEL's legacy semantics,
  // enum values are ints. Kubernetes objects are JSON and have no enums, so policies never meet one.
  "strong enums": {
    "enums/strong_proto2": [
      "literal_global",
      "literal_nested",
      "literal_zero",
      "type_global",
      "type_nested",
      "select_default",
      "field_type",
      "assign_standalone_int",
      "convert_int_inrange",
      "convert_int_big",
      "convert_int_neg",
      "convert_string",
    ],
    "enums/strong_proto3": [
      "literal_global",
      "literal_nested",
      "literal_zero",
      "type_global",
      "type_nested",
      "select_default",
      "select",
      "select_big",
      "select_neg",
      "field_type",
      "assign_standalone_int",
      "assign_standalone_int_big",
      "assign_standalone_int_neg",
      "convert_int_inrange",
      "convert_int_big",
      "convert_int_neg",
      "convert_string",
    ],
  },
  // Protobuf proto2 extension fields: a protobuf feature Kubernetes policies never use (their objects are JSON).
  "proto2 extensions": {
    "proto2/extensions_has": "all",
    "proto2/extensions_get": "all",
    "proto2_ext/has_ext": "all",
    "proto2_ext/get_ext": "all",
  },
  // cel-go's math extension (math.greatest, math.ceil, math.bitAnd…): not part of Kubernetes' CEL
  // environment. The tests that pass expect an error.
  "math extension": {
    "math_ext/greatest_int_result": "all",
    "math_ext/greatest_double_result": "all",
    "math_ext/greatest_uint_result": "all",
    "math_ext/least_int_result": "all",
    "math_ext/least_double_result": "all",
    "math_ext/least_uint_result": "all",
    "math_ext/ceil": ["negative", "positive"],
    "math_ext/floor": ["negative", "positive"],
    "math_ext/round": ["negative_down", "negative_up", "negative_mid", "positive_down", "positive_up", "nan"],
    "math_ext/trunc": ["negative", "positive", "nan"],
    "math_ext/abs": ["uint", "positive_int", "negative_int", "positive_double", "negative_double"],
    "math_ext/sign": [
      "positive_uint",
      "zero_uint",
      "positive_int",
      "negative_int",
      "zero_int",
      "positive_double",
      "negative_double",
      "zero_double",
    ],
    "math_ext/isNaN": ["true", "false"],
    "math_ext/isInf": ["true", "false"],
    "math_ext/isFinite": ["true", "false_nan", "false_inf"],
    "math_ext/bit_and": [
      "int_int_non_intersect",
      "int_int_intersect",
      "int_int_intersect_neg",
      "uint_uint_non_intersect",
      "uint_uint_intersect",
    ],
    "math_ext/bit_or": ["int_int_positive", "int_int_positive_negative", "uint_uint"],
    "math_ext/bit_xor": ["int_int_positive", "int_int_positive_negative", "uint_uint"],
    "math_ext/bit_not": ["int_positive", "int_negative", "int_zero", "uint_positive", "uint_zero"],
    "math_ext/bit_shift_left": ["int", "int_large_shift", "int_negative_large_shift", "uint", "uint_large_shift"],
    "math_ext/bit_shift_right": ["int", "int_large_shift", "int_negative", "int_negative_large_shift", "uint", "uint_large_shift"],
  },
  // cel-go's base64 encoders (base64.encode/decode): not part of Kubernetes' CEL environment.
  "encoders extension": {
    "encoders_ext/encode": "all",
    "encoders_ext/decode": "all",
    "encoders_ext/round_trip": "all",
  },
  // cel.block, the form cel-go's optimizer rewrites expressions into; no policy author writes it.
  "cel.block": {
    "block_ext/basic": "all",
  },
  // {1: 'a', 1u: 'b'} must fail (1 == 1u), but the duplicate is not detected (cel-go and cel-java do not
  // detect it either); Kubernetes rejects such mixed-type literals when it compiles a policy.
  "repeated numeric map keys": {
    "fields/qualified_identifier_resolution": ["map_value_repeat_key_heterogeneous"],
  },
};

const registry = getTestRegistry();

interface Outcome {
  path: string;
  /** Why the test failed, or undefined when it passed. */
  failure: string | undefined;
  /** A check_only test: judged on parsing only, its deduced type not compared. */
  checkOnly: boolean;
}

const environments = new Map<string, CelEnv>();
/** compileCel's functions and RE2 engine over the conformance test messages, in `container`. */
function environment(container: string): CelEnv {
  let env = environments.get(container);
  if (!env) {
    env = celEnvironment({ registry, namespace: container });
    environments.set(container, env);
  }
  return env;
}

function failureOf(test: IncrementalTest): string | undefined {
  const spec = test.original;
  // Options this runner cannot honour fail the test rather than being ignored.
  if (spec.disableMacros) return "disable_macros is not supported by @bufbuild/cel's parser";
  if (spec.locale) return "a locale is not supported by @bufbuild/cel";
  const parsed = instrument(parseCel(spec.expr).parsed);
  const evaluate = plan(environment(spec.container), parsed);
  // check_only: no evaluation is expected, only a deduced type, which needs the checker we lack.
  if (spec.checkOnly) return undefined;
  const bindings = Object.fromEntries(Object.entries(spec.bindings).map(([name, value]) => [name, bindingValue(value)]));
  const result = evaluate(bindings);
  compareCompiled(test, bindings, result);
  const matcher = spec.resultMatcher;
  switch (matcher.case) {
    case undefined:
      return result === true ? undefined : `expected true, got ${describeResult(result)}`;
    case "value":
      return matchValue(result, matcher.value);
    case "typedResult":
      // The deduced type needs the type checker: judged on the result only.
      return matcher.value.result ? matchValue(result, matcher.value.result) : "typed_result without a result to compare";
    case "evalError":
    case "anyEvalErrors":
      return isCelError(result) ? undefined : `expected an evaluation error, got ${describeResult(result)}`;
    case "unknown":
    case "anyUnknowns":
      return "unknown results are not supported by @bufbuild/cel";
  }
}

/**
 * How compileCel's compiled closures (closures.ts) fare on the conformance data, as written and with
 * the roots rewrite compileCel applies: each evaluation they complete (rather than hand back to the
 * planner) must give the planner's result.
 */
const compiledRuns = { completed: 0, handedBack: 0, notCompiled: 0, disagreements: [] as string[] };

function compareCompiled(test: IncrementalTest, bindings: Record<string, CelInput>, expected: CelResult): void {
  const spec = test.original;
  const names = Object.keys(bindings);
  const forms = [instrument(parseCel(spec.expr).parsed), resolveRootsOnce(instrument(parseCel(spec.expr).parsed), names)];
  for (const parsed of forms) {
    const compiled = compileClosures(environment(spec.container), parsed, names);
    if (!compiled) {
      compiledRuns.notCompiled++;
      continue;
    }
    const actual = compiled(bindings);
    if (actual === BAILED) {
      compiledRuns.handedBack++;
      continue;
    }
    compiledRuns.completed++;
    const same = !isCelError(expected) && describeOrThrown(actual as CelResult) === describeOrThrown(expected);
    if (!same)
      compiledRuns.disagreements.push(
        `${spec.expr}: planner ${describeOrThrown(expected)}, compiled ${describeOrThrown(actual as CelResult)}`,
      );
  }
}

function describeOrThrown(result: CelResult): string {
  try {
    return describeResult(result);
  } catch (e) {
    return `not describable: ${(e as Error).message}`;
  }
}

function bindingValue(binding: ExprValue): CelInput {
  if (binding.kind.case !== "value") throw new Error(`a ${binding.kind.case} binding cannot be a CEL input`);
  return celInput(binding.kind.value);
}

function celInput(value: Value): CelInput {
  const kind = value.kind;
  switch (kind.case) {
    case "nullValue":
      return null;
    case "boolValue":
    case "int64Value":
    case "doubleValue":
    case "stringValue":
    case "bytesValue":
      return kind.value;
    case "uint64Value":
      return celUint(kind.value);
    case "enumValue":
      // @bufbuild/cel has CEL's legacy enum semantics: an enum value is its number, an int.
      return BigInt(kind.value.value);
    case "objectValue": {
      const message = anyUnpack(kind.value, registry);
      if (!message) throw new Error(`no message type ${kind.value.typeUrl} in the registry`);
      return message;
    }
    case "listValue":
      return celList(kind.value.values.map(celInput));
    case "mapValue":
      return celMap(
        new Map(
          kind.value.entries.map((entry) => [
            celInput(entry.key ?? missing("map key")) as MapKey,
            celInput(entry.value ?? missing("map value")),
          ]),
        ),
      );
    default:
      throw new Error(`a ${kind.case} value cannot be a CEL input`);
  }
}

/** The CEL types a map key may have. */
type MapKey = bigint | string | boolean | CelUint;

function missing(what: string): never {
  throw new Error(`conformance data without a ${what}`);
}

function matchValue(result: CelResult, expected: Value): string | undefined {
  if (isCelError(result)) return `expected ${describeValue(expected)}, got error: ${result.message}`;
  const actual = create(ValueSchema, valueOf(result));
  return sameValue(actual, expected) ? undefined : `expected ${describeValue(expected)}, got ${describeValue(actual)}`;
}

/** A CEL value as the conformance Value message that represents it. */
function valueOf(value: CelResult): MessageInitShape<typeof ValueSchema> {
  switch (typeof value) {
    case "boolean":
      return { kind: { case: "boolValue", value } };
    case "bigint":
      return { kind: { case: "int64Value", value } };
    case "number":
      return { kind: { case: "doubleValue", value } };
    case "string":
      return { kind: { case: "stringValue", value } };
  }
  if (value === null) return { kind: { case: "nullValue", value: NullValue.NULL_VALUE } };
  if (value instanceof Uint8Array) return { kind: { case: "bytesValue", value } };
  if (isCelUint(value)) return { kind: { case: "uint64Value", value: value.value } };
  if (isCelType(value)) return { kind: { case: "typeValue", value: value.name } };
  if (isCelList(value)) return { kind: { case: "listValue", value: { values: [...value].map(valueOf) } } };
  if (isCelMap(value)) {
    const entries = [...value].map(([key, entry]) => ({ key: valueOf(key), value: valueOf(entry) }));
    return { kind: { case: "mapValue", value: { entries } } };
  }
  if (isReflectMessage(value)) return { kind: { case: "objectValue", value: anyPack(value.desc, value.message) } };
  throw new Error(`evaluation returned a value that is not a CEL value: ${String(value)}`);
}

/** Value equality as the conformance spec defines it: proto equality, maps order-agnostic, NaN == NaN. */
function sameValue(a: Value, b: Value): boolean {
  const x = a.kind;
  const y = b.kind;
  if (x.case !== y.case) return false;
  switch (x.case) {
    case "doubleValue":
      return x.value === y.value || (Number.isNaN(x.value) && Number.isNaN(y.value));
    case "bytesValue":
      return Buffer.from(x.value).equals(y.value as Uint8Array);
    case "enumValue": {
      const other = y.value as typeof x.value;
      return x.value.type === other.type && x.value.value === other.value;
    }
    case "objectValue":
      return equals(AnySchema, x.value, y.value as typeof x.value, { registry, unpackAny: true });
    case "listValue": {
      const other = (y.value as typeof x.value).values;
      return x.value.values.length === other.length && x.value.values.every((v, i) => sameValue(v, other[i]!));
    }
    case "mapValue": {
      const other = (y.value as typeof x.value).entries;
      return x.value.entries.length === other.length && x.value.entries.every((entry) => other.some((o) => sameEntry(entry, o)));
    }
    default:
      return x.value === y.value;
  }
}

function sameEntry(a: MapValue_Entry, b: MapValue_Entry): boolean {
  return (
    a.key !== undefined &&
    b.key !== undefined &&
    a.value !== undefined &&
    b.value !== undefined &&
    sameValue(a.key, b.key) &&
    sameValue(a.value, b.value)
  );
}

function describeValue(value: Value): string {
  return JSON.stringify(toJson(ValueSchema, value, { registry }));
}

function describeResult(result: CelResult): string {
  return isCelError(result) ? `error: ${result.message}` : describeValue(create(ValueSchema, valueOf(result)));
}

/** The test's failure, or undefined when it passed; an exception anywhere (parse, plan, bindings) is a failure. */
function judge(test: IncrementalTest): string | undefined {
  try {
    return failureOf(test);
  } catch (e) {
    return `threw: ${(e as Error).message}`;
  }
}

function knownCause(path: string): string | undefined {
  return Object.keys(KNOWN_FAILURES).find((cause) => lists(cause, path));
}

function lists(cause: string, path: string): boolean {
  const tests = KNOWN_FAILURES[cause]![sectionOf(path)];
  return tests === "all" || (tests?.includes(nameOf(path)) ?? false);
}

const sectionOf = (path: string) => path.slice(0, path.lastIndexOf("/"));
const nameOf = (path: string) => path.slice(path.lastIndexOf("/") + 1);

const outcomes: Outcome[] = [];

/** One node:test suite per file and section of the data, one test per conformance test. */
function defineSuite(suite: IncrementalTestSuite, prefix: string[]): void {
  for (const child of suite.suites) describe(child.name, () => defineSuite(child, [...prefix, child.name]));
  const seen = new Map<string, number>();
  for (const test of suite.tests) {
    const occurrence = (seen.get(test.name) ?? 0) + 1;
    seen.set(test.name, occurrence);
    const name = occurrence > 1 ? `${test.name}#${occurrence}` : test.name;
    const outcome: Outcome = { path: [...prefix, name].join("/"), failure: judge(test), checkOnly: test.original.checkOnly };
    outcomes.push(outcome);
    it(name, () => {
      const cause = knownCause(outcome.path);
      if (cause === undefined && outcome.failure !== undefined) assert.fail(`${test.original.expr}: ${outcome.failure}`);
      if (cause !== undefined && outcome.failure === undefined)
        assert.fail(`passes now, but KNOWN_FAILURES lists it (${cause}): remove it from the list`);
    });
  }
}

describe("CEL conformance (cel-spec simple tests)", () => {
  defineSuite(getConformanceSuite(), []);

  it("the compiled closures give the planner's result on every evaluation they complete", () => {
    assert.deepEqual(compiledRuns.disagreements, []);
    // The data must exercise them: most tests are expressions they take.
    assert.ok(compiledRuns.completed > 1000, `only ${compiledRuns.completed} compiled evaluations completed`);
  });

  it("lists each known failure once, only for tests that exist, and reports the totals", (t) => {
    for (const [cause, sections] of Object.entries(KNOWN_FAILURES)) {
      for (const [section, tests] of Object.entries(sections)) {
        const names = outcomes.filter((o) => sectionOf(o.path) === section).map((o) => nameOf(o.path));
        assert.ok(names.length > 0, `KNOWN_FAILURES (${cause}) names ${section}, which is no conformance section`);
        for (const name of tests === "all" ? [] : tests)
          assert.ok(names.includes(name), `KNOWN_FAILURES (${cause}) names ${section}/${name}, which is no conformance test`);
      }
    }
    for (const { path } of outcomes) {
      const causes = Object.keys(KNOWN_FAILURES).filter((cause) => lists(cause, path));
      assert.ok(causes.length <= 1, `${path} is listed under more than one cause: ${causes.join(", ")}`);
    }
    const byCause = Object.keys(KNOWN_FAILURES).map(
      (cause) => `${cause}: ${outcomes.filter((o) => o.failure !== undefined && knownCause(o.path) === cause).length}`,
    );
    const passed = outcomes.filter((o) => o.failure === undefined && knownCause(o.path) === undefined);
    const known = outcomes.filter((o) => o.failure !== undefined && knownCause(o.path) !== undefined);
    const checkOnly = passed.filter((o) => o.checkOnly).length;
    t.diagnostic(
      `compiled closures: ${compiledRuns.completed} evaluations completed, ${compiledRuns.handedBack} handed back to the planner, ${compiledRuns.notCompiled} expressions not compiled`,
    );
    t.diagnostic(
      `conformance: ${passed.length} passed (${checkOnly} check-only, judged on parsing), ${known.length} known failures (by cause ${byCause.join(", ")}), of ${outcomes.length} tests`,
    );
  });
});
