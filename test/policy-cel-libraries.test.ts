// The Kubernetes CEL libraries in Vigil's environment: documented examples and the edge cases where a
// hand-written implementation most easily drifts from Kubernetes (parsing strictness, rounding, RE2).
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { CelEvalError, compileCel, toCel } from "../src/policy/cel/compile.ts";
import { opaquePayload } from "../src/policy/cel/opaque.ts";
import { policyChecks } from "../src/policy/gate.ts";
import { parseManifests } from "../src/manifest/manifests.ts";

const evaluate = (expr: string, object: unknown = {}) => compileCel(expr, ["object"]).evaluate({ object: toCel(object) });
const isTrue = (expr: string) => assert.equal(evaluate(expr), true, expr);
const isFalse = (expr: string) => assert.equal(evaluate(expr), false, expr);
const fails = (expr: string, message: RegExp) =>
  assert.throws(
    () => evaluate(expr),
    (e: unknown) => e instanceof CelEvalError && message.test(e.message),
    expr,
  );
const list = (expr: string) => [...(evaluate(expr) as Iterable<unknown>)];
/** The optional's contents: [] for none, [value] for a present value. */
const optional = (expr: string, object: unknown = {}) => [...(opaquePayload("optional", evaluate(expr, object)) as Iterable<unknown>)];

describe("lists library", () => {
  it("checks order, sums and finds extremes as Kubernetes documents", () => {
    isTrue("[1, 2, 3].isSorted() && ['a', 'b', 'b', 'c'].isSorted() && [].isSorted()");
    isFalse("[2.0, 1.0].isSorted()");
    assert.equal(evaluate("[1, 3].sum()"), 4n);
    assert.equal(evaluate("[1.0, 3.0].sum()"), 4);
    assert.equal(evaluate("[].sum()"), 0n);
    isTrue("[duration('1m'), duration('1s')].sum() == duration('61s')");
    assert.equal(evaluate("[1, 3].min()"), 1n);
    assert.equal(evaluate("['b', 'c', 'a'].max()"), "c");
    assert.equal(evaluate("object.items.map(x, x.weight).sum()", { items: [{ weight: 0.25 }, { weight: 0.75 }] }), 1);
  });

  it("errors on an empty min/max, mixed types and int overflow", () => {
    fails("[].min()", /min called on empty list/);
    fails("[1, 'a'].max()", /cannot compare/);
    fails("[9223372036854775807, 1].sum()", /overflow/);
  });

  it("finds elements by CEL equality", () => {
    assert.equal(evaluate("[1, 2, 2, 3].indexOf(2)"), 1n);
    assert.equal(evaluate("[1, 2, 2, 3].lastIndexOf(2)"), 2n);
    assert.equal(evaluate("[1, 2].indexOf(2.0)"), 1n);
    assert.equal(evaluate("['a'].indexOf('b')"), -1n);
    assert.equal(evaluate("[[1], [2]].indexOf([2])"), 1n);
  });

  it("offers the cel-go list extension Kubernetes enables", () => {
    assert.deepEqual(list("lists.range(4)"), [0n, 1n, 2n, 3n]);
    assert.deepEqual(list("lists.range(0)"), []);
    assert.deepEqual(list("[1, 2, 3, 4].slice(1, 3)"), [2n, 3n]);
    assert.deepEqual(list("[1, [2, [3, [4]]]].flatten()").length, 3);
    assert.deepEqual(list("[1, [2, [3, [4]]]].flatten(3)"), [1n, 2n, 3n, 4n]);
    assert.deepEqual(list("[1, 2, 1.0, 3, 2].distinct()"), [1n, 2n, 3n]);
    assert.deepEqual(list("[1, 2, 3].reverse()"), [3n, 2n, 1n]);
    assert.deepEqual(list("['b', 'c', 'a'].sort()"), ["a", "b", "c"]);
    fails("[1, 2].slice(2, 1)", /start index must be less than or equal to end index/);
    fails("[1, 2].slice(0, 3)", /list is length 2/);
    fails("[1, 2].slice(-1, 1)", /negative indexes not supported/);
    fails("[1].flatten(-1)", /level must be non-negative/);
    fails("[1, 'a'].sort()", /same type/);
  });
});

describe("sets extension", () => {
  it("compares lists as sets", () => {
    isTrue("sets.contains([1, 2, 3], [3, 1]) && sets.contains([1], []) && sets.contains([1], [1.0])");
    isFalse("sets.contains([1, 2], [2, 4])");
    isTrue("sets.equivalent([1, 2, 2], [2, 1])");
    isFalse("sets.equivalent([1, 2], [1, 2, 3])");
    isTrue("sets.intersects([1, 2], [2, 3])");
    isFalse("sets.intersects([1], [])");
  });
});

describe("regex library", () => {
  it("finds the leftmost match, or an empty string", () => {
    assert.equal(evaluate("'abc 123'.find('[0-9]+')"), "123");
    assert.equal(evaluate("'abc'.find('[0-9]+')"), "");
    // [0-9]* matches the empty string at position 0, as in Go.
    assert.equal(evaluate("'abc 123'.find('[0-9]*')"), "");
  });

  it("finds all matches with Go's rule for empty matches, and honours a limit", () => {
    assert.deepEqual(list("'1, 2, 3, 4'.findAll('[0-9]*')"), ["1", "", "2", "", "3", "", "4"]);
    assert.equal(evaluate("'1, 2, 3, 4'.findAll('[0-9]+').map(x, int(x)).sum() < 100"), true);
    assert.deepEqual(list("'a1b2c3'.findAll('[a-z]', 2)"), ["a", "b"]);
    assert.deepEqual(list("'a1b2c3'.findAll('[a-z]', 0)"), []);
    assert.deepEqual(list("'a1b2c3'.findAll('[a-z]', -1)"), ["a", "b", "c"]);
  });

  it("follows RE2 syntax where it differs from JavaScript's", () => {
    assert.deepEqual(list("'Kube kube KUBE'.findAll('(?i)kube')"), ["Kube", "kube", "KUBE"]);
    assert.deepEqual(list("'ab\\ncd'.findAll('(?m)^[a-z]')"), ["a", "c"]);
    assert.deepEqual(list("'ab\\ncd'.findAll('^[a-z]')"), ["a"]);
    assert.equal(evaluate("'a\\rb'.find('a.b')"), "a\rb"); // RE2's . excludes only \n
    assert.equal(evaluate("'a\\u00a0b'.find('a\\\\sb')"), ""); // RE2's \s is ASCII only
    assert.equal(evaluate("'x-y'.find('[[:alpha:]]+[-][[:alpha:]]+')"), "x-y");
    assert.equal(evaluate("'1+1=2'.find('\\\\Q1+1\\\\E')"), "1+1");
    assert.equal(evaluate("'größe'.find('\\\\pL+')"), "größe");
    assert.equal(evaluate("'aaa'.find('(?U)a+')"), "a");
    assert.equal(evaluate("'v1{2}'.find('1{2}')"), "");
    assert.equal(evaluate("'v{x}'.find('{x}')"), "{x}"); // a brace that is not a repeat is literal
    assert.equal(evaluate("'name=web'.find('(?P<key>[a-z]+)=')"), "name=");
  });

  it("rejects what RE2 rejects, with a clear error", () => {
    fails("'abc'.find('(?<=a)b')", /Illegal regex/);
    fails("'aa'.find('(a)\\\\1')", /Illegal regex: .*invalid escape sequence/);
    fails("'aa'.findAll('a*+')", /Illegal regex/);
    fails("'aa'.find('a{1001}')", /Illegal regex: .*invalid repeat count/);
    fails("'aa'.find('[a')", /Illegal regex/);
  });
});

describe("URL library", () => {
  it("parses absolute URIs and absolute paths as Go's ParseRequestURI", () => {
    assert.equal(evaluate("url('https://example.com:80/').getHost()"), "example.com:80");
    assert.equal(evaluate("url('https://example.com:80/').getHostname()"), "example.com");
    assert.equal(evaluate("url('https://example.com:80/').getPort()"), "80");
    assert.equal(evaluate("url('HTTPS://example.com/').getScheme()"), "https");
    assert.equal(evaluate("url('https://[::1]:8443/x').getHostname()"), "::1");
    assert.equal(evaluate("url('https://example.com/').getPort()"), "");
    assert.equal(evaluate("url('/absolute/path').getScheme()"), "");
    assert.equal(evaluate("url('https://example.com/path with spaces/').getEscapedPath()"), "/path%20with%20spaces/");
    assert.equal(evaluate("url('https://example.com/a%2Fb').getEscapedPath()"), "/a%2Fb");
    assert.equal(evaluate("url('mailto:someone@example.com').getScheme()"), "mailto");
    isTrue("url('https://example.com/?a=1&a=2&b=x+y&c').getQuery() == {'a': ['1', '2'], 'b': ['x y'], 'c': ['']}");
    isTrue("url('https://example.com/?k=v;x=y').getQuery() == {}"); // Go drops pairs with semicolons
  });

  it("rejects what ParseRequestURI rejects", () => {
    for (const bad of [
      "",
      "example.com",
      "relative/path",
      "://x",
      "https://exa mple.com/",
      "https://host:port/",
      "https://[::1/",
      "https://x/%zz",
      "https://x/\u0001",
    ]) {
      assert.equal(evaluate("isURL(object.u)", { u: bad }), false, bad);
    }
    isTrue("isURL('https://user:pass@example.com/')");
    fails("url('example.com')", /URL parse error during conversion from string: .*invalid URI for request/);
  });
});

describe("quantity library", () => {
  it("compares quantities by value across suffixes", () => {
    isTrue("quantity('1') == quantity('1000m')");
    isTrue("quantity('200M') == quantity('0.2G') && quantity('2000k') == quantity('2M')");
    isFalse("quantity('200M') == quantity('0.3G')");
    isTrue("quantity('50M').isLessThan(quantity('50Mi')) && quantity('50Mi').isGreaterThan(quantity('50M'))");
    assert.equal(evaluate("quantity('200M').compareTo(quantity('0.2G'))"), 0n);
    assert.equal(evaluate("quantity('1Ki').compareTo(quantity('1k'))"), 1n);
    isTrue("quantity('1e3') == quantity('1k') && quantity('1E3') == quantity('1000')");
    isTrue("quantity('1Gi') == quantity('1073741824')");
  });

  it("rounds sub-nano values up, as Kubernetes does", () => {
    isTrue("quantity('0.1n') == quantity('1n')");
    isTrue("quantity('-0.1n') == quantity('-1n')");
    isTrue("quantity('1e-20').isGreaterThan(quantity('0'))");
  });

  it("does exact arithmetic with quantities and ints", () => {
    isTrue("quantity('50k').add(quantity('20')) == quantity('50.02k')");
    isTrue("quantity('50k').sub(20) == quantity('49980')");
    assert.equal(evaluate("quantity('50k').add(20).sub(quantity('100k')).sub(-50000).asInteger()"), 20n);
    assert.equal(evaluate("quantity('50.703k').asApproximateFloat()"), 50703);
    isTrue("quantity('0.1').add(quantity('0.2')) == quantity('300m')");
    assert.equal(evaluate("sign(quantity('-1m'))"), -1n);
    assert.equal(evaluate("sign(quantity('0Gi'))"), 0n);
  });

  it("converts to an integer only when exact and within int64", () => {
    isTrue("quantity('50').isInteger() && quantity('2Ki').asInteger() == 2048");
    isFalse("quantity('1500m').isInteger()");
    fails("quantity('1500m').asInteger()", /cannot convert value to integer/);
    fails("quantity('10E').asInteger()", /cannot convert value to integer/);
  });

  it("accepts Kubernetes' grammar and rejects the rest", () => {
    for (const ok of ["20", "20M", "20Mi", "1.5Gi", ".5", "5.", "+3", "-3m", "12e6", "1E-3", "100n", "3u", "1Ei"]) {
      assert.equal(evaluate("isQuantity(object.q)", { q: ok }), true, ok);
    }
    for (const bad of ["", "20Mo", "10Mm", "1K", "1 Gi", "aoeu", ".5i", "1e", "1.2.3", "0x10", "1Gi1"]) {
      assert.equal(evaluate("isQuantity(object.q)", { q: bad }), false, bad);
    }
    fails("quantity('10Mo')", /quantities must match the regular expression/);
    fails("quantity('10Mm')", /unable to parse quantity's suffix/);
  });
});

describe("IP and CIDR libraries", () => {
  it("parses addresses strictly, as Kubernetes does", () => {
    isTrue("isIP('192.168.0.1') && isIP('::1') && isIP('2001:db8::ff00:42:8329') && isIP('::1.2.3.4')");
    isFalse("isIP('192.168.0.01')"); // leading zero
    isFalse("isIP('::ffff:192.168.0.1')"); // IPv4-mapped IPv6
    isFalse("isIP('fe80::1%eth0')"); // zone
    isFalse("isIP('1.2.3') || isIP('256.1.1.1') || isIP('1::2::3') || isIP('1:2:3:4:5:6:7:8:9') || isIP('')");
    fails("ip('1.2.3.04')", /leading zero/);
    fails("ip('::ffff:1.2.3.4')", /IPv4-mapped IPv6 address .* is not allowed/);
  });

  it("answers family, canonical form and address classes", () => {
    assert.equal(evaluate("ip('192.168.0.1').family()"), 4n);
    assert.equal(evaluate("ip('::1').family()"), 6n);
    isTrue("ip.isCanonical('2001:db8::1') && ip.isCanonical('127.0.0.1')");
    isFalse("ip.isCanonical('2001:DB8::1') || ip.isCanonical('2001:db8:0:0:0:0:0:1')");
    fails("ip.isCanonical('not-an-ip')", /parse error/);
    assert.equal(evaluate("string(ip('2001:DB8:0:0:1:0:0:1'))"), "2001:db8::1:0:0:1");
    assert.equal(evaluate("string(ip('1:0:0:2:0:0:0:3'))"), "1:0:0:2::3");
    assert.equal(evaluate("string(ip('1:0:2:3:4:5:6:7'))"), "1:0:2:3:4:5:6:7");
    isTrue("ip('0.0.0.0').isUnspecified() && ip('::').isUnspecified()");
    isTrue("ip('127.0.0.1').isLoopback() && ip('::1').isLoopback()");
    isTrue("ip('224.0.0.1').isLinkLocalMulticast() && ip('ff02::1').isLinkLocalMulticast()");
    isTrue("ip('169.254.1.1').isLinkLocalUnicast() && ip('fe80::1').isLinkLocalUnicast()");
    isTrue("ip('192.168.0.1').isGlobalUnicast() && ip('2001:db8::1').isGlobalUnicast()");
    isFalse("ip('255.255.255.255').isGlobalUnicast() || ip('224.0.0.1').isGlobalUnicast() || ip('fe80::1').isGlobalUnicast()");
    isTrue("ip('2001:db8::1') == ip('2001:DB8:0::1')");
  });

  it("parses and queries CIDRs", () => {
    isTrue("isCIDR('192.168.0.0/16') && isCIDR('::1/128') && isCIDR('192.168.0.1/24')");
    isFalse(
      "isCIDR('192.168.0.0/33') || isCIDR('::1/129') || isCIDR('10.0.0.0') || isCIDR('10.0.0.0/08') || isCIDR('10.0.0.0/') || isCIDR('::ffff:1.2.3.4/120')",
    );
    isTrue("cidr('192.168.0.0/24').containsIP(ip('192.168.0.1')) && cidr('192.168.0.0/24').containsIP('192.168.0.254')");
    isFalse("cidr('192.168.0.0/24').containsIP('192.168.1.1') || cidr('::/0').containsIP('10.0.0.1')");
    isTrue("cidr('192.168.0.0/16').containsCIDR(cidr('192.168.10.0/24')) && cidr('192.168.0.0/16').containsCIDR('192.168.0.1/32')");
    isFalse("cidr('192.168.1.0/24').containsCIDR('192.168.2.0/24') || cidr('192.168.0.0/24').containsCIDR('192.168.0.0/23')");
    isTrue("cidr('192.168.0.1/24').ip() == ip('192.168.0.1') && cidr('::1/128').ip().family() == 6");
    isTrue("cidr('192.168.0.1/24').masked() == cidr('192.168.0.0/24')");
    isFalse("cidr('192.168.0.1/24') == cidr('192.168.0.1/24').masked()");
    assert.equal(evaluate("string(cidr('2001:db8:1::/32').masked())"), "2001:db8::/32");
    assert.equal(evaluate("cidr('10.0.0.0/8').prefixLength()"), 8n);
    fails("cidr('10.0.0.0/8').containsIP('10.0.0.01')", /leading zero/);
    fails("cidr('192.168.0.0/')", /bad bits after slash/);
  });
});

describe("format library", () => {
  it("validates named formats: none when valid, the errors when not", () => {
    assert.deepEqual(optional("format.dns1123Label().validate('my-name')"), []);
    const [errors] = optional("format.dns1123Label().validate('My_Name')");
    assert.match([...(errors as Iterable<string>)][0]!, /a lowercase RFC 1123 label must consist of lower case alphanumeric/);
    assert.deepEqual([...(optional("format.dns1123Label().validate('a.b')")[0] as Iterable<string>)], ["must not contain dots"]);
    assert.deepEqual(optional("format.dns1123Subdomain().validate('apiextensions.k8s.io')"), []);
    assert.deepEqual(optional("format.dns1035Label().validate('abc-123')"), []);
    assert.equal(optional("format.dns1035Label().validate('123-abc')").length, 1);
    assert.deepEqual(optional("format.qualifiedName().validate('apiextensions.k8s.io/v1beta1')"), []);
    assert.deepEqual([...(optional("format.qualifiedName().validate('/name')")[0] as Iterable<string>)], ["prefix part must be non-empty"]);
    assert.deepEqual(optional("format.dns1123LabelPrefix().validate('my-label-prefix-')"), []);
    assert.deepEqual(optional("format.dns1123SubdomainPrefix().validate('mysubdomain.prefix.-')"), []);
    assert.deepEqual(optional("format.dns1035LabelPrefix().validate('my-label-prefix-')"), []);
    assert.deepEqual(optional("format.labelValue().validate('')"), []);
    assert.equal(optional("format.labelValue().validate('-bad')").length, 1);
    assert.deepEqual(
      [...(optional("format.dns1123Label().validate(object.n)", { n: "a".repeat(64) })[0] as Iterable<string>)],
      ["must be no more than 63 characters"],
    );
  });

  it("validates URIs, UUIDs, base64 and dates", () => {
    assert.deepEqual(optional("format.uri().validate('http://example.com')"), []);
    assert.deepEqual(
      [...(optional("format.uri().validate('example.com')")[0] as Iterable<string>)],
      ['parse "example.com": invalid URI for request'],
    );
    assert.deepEqual(optional("format.uuid().validate('123e4567-e89b-12d3-a456-426614174000')"), []);
    assert.equal(optional("format.uuid().validate('123e4567')").length, 1);
    assert.deepEqual(optional("format.byte().validate('aGVsbG8=')"), []);
    assert.equal(optional("format.byte().validate('aGVsbG8')").length, 1);
    assert.deepEqual(optional("format.date().validate('2024-02-29')"), []);
    assert.equal(optional("format.date().validate('2023-02-29')").length, 1);
    assert.deepEqual(optional("format.datetime().validate('2021-01-01T00:00:00Z')"), []);
    assert.deepEqual(optional("format.datetime().validate('2021-01-01T23:59:59.5+02:00')"), []);
    assert.equal(optional("format.datetime().validate('2021-01-01T24:00:00Z')").length, 1);
  });

  it("looks formats up by name", () => {
    assert.deepEqual(optional("format.named('nope')"), []);
    const [found] = optional("format.named('dns1123Label')");
    assert.equal(opaquePayload("format", found), "dns1123Label");
    isTrue("format.named('uuid') == format.named('uuid') && format.uuid() != format.byte()");
  });
});

describe("a ValidatingAdmissionPolicy using the libraries", () => {
  const policy = `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: memory-limit}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
  validations:
  - expression: "object.spec.containers.all(c, quantity(c.resources.limits.memory).compareTo(quantity('2Gi')) <= 0)"
    message: memory limit above 2Gi
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: memory-limit}
spec: {policyName: memory-limit, validationActions: [Deny]}
`;
  const pod = (memory: string) => `
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default}
spec:
  containers: [{name: app, image: nginx, resources: {limits: {memory: "${memory}"}}}]
`;
  const statusFor = (memory: string) => {
    const checks = policyChecks({ policies: parseManifests(policy, "policy.yaml"), manifests: parseManifests(pod(memory), "pod.yaml") });
    const found = checks.filter((c) => c.rule === "memory-limit");
    assert.equal(found.length, 1, JSON.stringify(checks));
    return found[0]!;
  };

  it("passes a pod within the limit, whatever the unit", () => {
    assert.equal(statusFor("2048Mi").status, "pass");
    assert.equal(statusFor("1.5G").status, "pass");
  });

  it("fails a pod above it", () => {
    const c = statusFor("2049Mi");
    assert.equal(c.status, "fail");
    assert.match(c.message, /memory limit above 2Gi/);
  });
});
