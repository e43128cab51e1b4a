// Path and image patterns (issue 14 §8): the linear-time glob matcher reads patterns as picomatch did
// (dot files, no negation, no extglobs), and a pattern built to backtrack finishes at once.
import { strict as assert } from "node:assert";
import { test } from "node:test";
import picomatch from "picomatch";
import { InputError } from "../src/core/errors.ts";
import { globMatcher, MAX_ALTERNATIVES, PatternRules } from "../src/core/patterns.ts";

const patterns = [
  "*",
  "a/*",
  "a/**",
  "**",
  "**/b",
  "a/**/b",
  "a**b",
  "a/**b",
  "a?c",
  "[abc]x",
  "[!a]x",
  "[^a]x",
  "[a-c]",
  "[]a]",
  "[a",
  "a\\*",
  "{a,b}/c",
  "{a,b{c,d}}",
  "{a}",
  "a{,b}",
  "{*.yaml,b}",
  "./a",
  "*.yaml",
  "**/*.yaml",
  "envs/*/app.yaml",
  "envs/{prod,staging}/**",
  "docker.io/library/*",
  "a/**/**/b",
  "a.b",
  "src/**/test/*.ts",
  ".vigil/**",
  "*/*",
  "a*b*c",
  "[a-z]*/[0-9]?",
  "**/x/**",
  "a/**/b/**/c",
  "registry.example.com/shop/**",
  "ghcr.io/acme/*-service",
];
const subjects = [
  "a",
  "b",
  "c",
  "ab",
  "ac",
  "abc",
  "axb",
  "a/b",
  "a/c",
  "b/c",
  "a/b/c",
  "a/x/b",
  "a/x/y/b",
  "x.yaml",
  ".yaml",
  "a/x.yaml",
  "!x",
  "envs/prod/app.yaml",
  "envs/prod/x/app.yaml",
  "envs/staging/a",
  "envs/dev/a",
  "docker.io/library/nginx",
  "docker.io/library/a/b",
  "src/x/test/a.ts",
  "src/test/a.ts",
  ".vigil/trust.yaml",
  "a*",
  "]",
  "[a",
  "{a}",
  "a.b",
  "axc",
  "ax",
  "bx",
  "dx",
  "x/x/x",
  "x",
  "a/b/c/b/c",
  "a/b/b/c",
  "axbxc",
  "z/5a",
  "z/55",
  "a/x/b/y/c",
  "registry.example.com/shop/app",
  "registry.example.com/shopx/app",
  "ghcr.io/acme/cart-service",
  "ghcr.io/acme/team/cart-service",
];

test("every pattern matches every subject exactly as picomatch (the matcher it replaces) did", () => {
  const differences: string[] = [];
  for (const pattern of patterns) {
    const before = picomatch(pattern, { dot: true, nonegate: true, noextglob: true });
    const now = globMatcher(pattern);
    for (const subject of subjects)
      if (before(subject) !== now(subject)) differences.push(`${pattern} on ${subject}: was ${before(subject)}`);
  }
  assert.deepEqual(differences, []);
  assert.ok(patterns.length * subjects.length > 1500);
});

test("a pattern that backtracks catastrophically as a regular expression completes in linear time", () => {
  const hostile = `${"*a".repeat(12)}*b`;
  const subject = "a".repeat(20_000);
  const started = performance.now();
  assert.equal(globMatcher(hostile)(subject), false);
  assert.equal(globMatcher(`**/${"*a".repeat(12)}*b/**`)(`${"a/".repeat(2000)}${subject}`), false);
  assert.equal(globMatcher(hostile)(`${subject}b`), true);
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 3000, `took ${elapsed} ms`);
});

test("brace expansion is bounded: a pattern that doubles with every group is bad input", () => {
  assert.throws(
    () => globMatcher("{a,b}".repeat(11)),
    (e: Error) => e instanceof InputError && e.message.includes(`more than ${MAX_ALTERNATIVES} alternatives`),
  );
  assert.equal(globMatcher("{a,b}".repeat(10))("ab".repeat(5)), true);
});

test("the most specific matching rule still decides, the first listed on a tie", () => {
  const rules = new PatternRules([
    { pattern: "**", value: "everyone" },
    { pattern: "envs/**", value: "ops" },
    { pattern: "envs/prod/**", value: "prod-owners" },
    { pattern: "envs/*/app.yaml", value: "app" },
  ]);
  assert.equal(rules.ruleFor("README.md")?.value, "everyone");
  assert.equal(rules.ruleFor("envs/staging/x.yaml")?.value, "ops");
  assert.equal(rules.ruleFor("envs/prod/x.yaml")?.value, "prod-owners");
  assert.equal(rules.ruleFor("envs/prod/app.yaml")?.value, "app", "more literal characters than envs/prod/**");
  assert.equal(rules.ruleFor("envs/dev/app.yaml")?.value, "app");
});
