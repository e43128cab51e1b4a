// The admission webhook's inputs, each refused with its reason: the configuration (exit 2 naming file,
// line and field), the HTTP requests an attacker on the network could send (one endpoint, bounded
// bodies, malformed reviews), objects that hide or mangle images, updates, break-glass tokens out of
// their time or for unnamed objects, and a dependency gone (an unreachable API server exits 3; an
// inventory that cannot be read refuses, never admits). Real components throughout: a SQLite inventory,
// ssh-keygen keys, an audit log, TLS on loopback, and a kube-apiserver where break-glass tokens are used up.
import { strict as assert } from "node:assert";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { Agent, request } from "undici";
import { breakGlassContext, decisionContext } from "../src/admission/admission.ts";
import { BREAK_GLASS_ANNOTATION, breakGlassClaim, signBreakGlass } from "../src/admission/break-glass.ts";
import { forgetExpiredTokens, USED_TOKEN_RETENTION_MS } from "../src/admission/break-glass-ledger.ts";
import { issueCa, issueServing } from "../src/admission/certificates.ts";
import { loadAdmissionConfig, type AdmissionConfig } from "../src/admission/config.ts";
import { decide, type AdmissionRequest } from "../src/admission/decide.ts";
import { MAX_REVIEW_BYTES, serveWebhook } from "../src/admission/server.ts";
import { recordVerifiedImages, VerifiedImages } from "../src/admission/verified.ts";
import { openAuditLog } from "../src/audit/index.ts";
import { connectCluster } from "../src/cluster/index.ts";
import { kubeApi, kubeForFile } from "./helpers/cluster.ts";
import { requireKube } from "./helpers/kube.ts";
import { openInventory, type InventoryStore } from "../src/monitor/inventory.ts";
import { makeLogKey } from "./helpers/audit.ts";
import { requirePostgres, startPostgres } from "./helpers/postgres.ts";
import { SshSigner, writePolicy } from "./helpers/git-fixture.ts";
import { requireTools, tempDir, vigil } from "./helpers/tools.ts";

const kube = kubeForFile();
const DIGEST = `sha256:${"ab".repeat(32)}`;
const VERIFIED = `registry.example.com/shop/web:1.4@${DIGEST}`;
const OTHER = `registry.example.com/shop/tool@sha256:${"cd".repeat(32)}`;

interface Setup {
  dir: string;
  config: AdmissionConfig;
  configFile: string;
  inventory: InventoryStore;
  verified: VerifiedImages;
  alice: SshSigner;
  judge(request: AdmissionRequest): ReturnType<typeof decide>;
  auditDir: string;
}

/** A configuration file with these lines (after the required ones), and its trust policy. */
function writeConfig(dir: string, lines: string, alice: SshSigner, inventory = join(dir, "inventory")): string {
  const trust = writePolicy(join(dir, "trust.yaml"), {
    signers: [alice.policyEntry],
    admins: { members: ["alice"], threshold: 1 },
    paths: [{ pattern: "**", owners: ["alice"] }],
  });
  const file = join(dir, "admission.yaml");
  writeFileSync(
    file,
    `apiVersion: vigil.dev/v1alpha1
kind: AdmissionConfig
inventory: ${inventory}
trustPolicy: ${trust}
cluster: { kubeconfig: ${join(dir, "kubeconfig")} }
${lines}`,
  );
  return file;
}

const ENVIRONMENTS = `environments:
  - { name: prod, namespaces: [shop] }
`;

async function setup(t: TestContext, options: { audit?: boolean; inventory?: string } = {}): Promise<Setup> {
  const dir = tempDir(t, "vigil-admission-inputs-");
  const alice = new SshSigner(dir, "alice");
  const logKey = makeLogKey(dir);
  const auditDir = join(dir, "audit");
  const configFile = writeConfig(
    dir,
    `webhook: { url: "https://127.0.0.1:8443" }\n${options.audit === false ? "" : `audit: { log: ${auditDir}, signingKeyFile: ${logKey.file} }\n`}${ENVIRONMENTS}`,
    alice,
    options.inventory,
  );
  const config = loadAdmissionConfig(configFile);
  const inventory = await openInventory(config.inventory);
  await inventory.replaceEnvironment("prod", [
    {
      environment: "prod",
      workload: "Deployment shop/web",
      images: [{ image: VERIFIED, digest: DIGEST }],
      revision: "0".repeat(40),
      verdict: "pass",
      deployedAt: new Date().toISOString(),
    },
  ]);
  const verified = await VerifiedImages.open(config.inventory, ["prod"], config.refreshMs);
  const audit = options.audit === false ? undefined : await openAuditLog(auditDir, { signingKeyFile: logKey.file });
  // Break-glass tokens are used up in the agent's namespace of a real API server.
  await kubeApi(kube.cluster, "POST", "/api/v1/namespaces", { metadata: { name: "vigil-system" } });
  const cluster = await connectCluster({ kubeconfig: kube.cluster.admin.kubeconfigPath });
  t.after(async () => {
    verified.close();
    await inventory.close().catch(() => {});
    await audit?.close();
    await cluster.close();
  });
  const ctx = decisionContext(config, verified, audit, await breakGlassContext(config), cluster);
  return { dir, config, configFile, inventory, verified, alice, judge: (r) => decide(r, ctx), auditDir };
}

function podRequest(
  image: unknown,
  options: {
    name?: string;
    generateName?: string;
    annotations?: Record<string, string>;
    operation?: string;
    old?: unknown;
    user?: string;
    dryRun?: boolean;
    namespace?: string;
  } = {},
): AdmissionRequest {
  const name = options.generateName ? undefined : (options.name ?? "web");
  const object = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      ...(name && { name }),
      ...(options.generateName && { generateName: options.generateName }),
      namespace: options.namespace ?? "shop",
      ...(options.annotations && { annotations: options.annotations }),
    },
    spec: { containers: [{ name: "app", image }] },
  };
  return {
    uid: "11111111-2222-3333-4444-555555555555",
    kind: { group: "", version: "v1", kind: "Pod" },
    ...(name && { name }),
    namespace: options.namespace ?? "shop",
    operation: options.operation ?? "CREATE",
    userInfo: { username: options.user ?? "mallory" },
    object: object as never,
    ...(options.old !== undefined && { oldObject: { ...object, spec: { containers: [{ name: "app", image: options.old }] } } as never }),
    dryRun: options.dryRun ?? false,
  };
}

test("configuration: each mistake is bad input (exit 2) naming file, line and field", (t) => {
  if (!requireTools(t, ["ssh-keygen"])) return;
  const dir = tempDir(t, "vigil-admission-config-");
  const alice = new SshSigner(dir, "alice");
  const cases: [string, RegExp][] = [
    [`webhook: { url: "https://127.0.0.1:8443" }\nsurprise: 1\n${ENVIRONMENTS}`, /admission\.yaml:7 surprise: unknown field/],
    [
      `webhook: { url: "https://127.0.0.1:8443" }\nenvironments:\n  - { name: prod, namespaces: [shop], failurePolicy: Maybe }\n`,
      /admission\.yaml:8 environments\[0\]\.failurePolicy/,
    ],
    [`webhook: { url: "http://127.0.0.1:8443" }\n${ENVIRONMENTS}`, /admission\.yaml:6 webhook\.url: must be an https:\/\/ URL/],
    [
      `webhook: { url: "https://127.0.0.1:8443", service: { name: vigil-admission } }\n${ENVIRONMENTS}`,
      /admission\.yaml:6 webhook: give service or url \(one of them\)/,
    ],
    [
      `webhook: { url: "https://127.0.0.1:8443" }\nenvironments:\n  - { name: prod, namespaces: [shop] }\n  - { name: staging, namespaces: [shop] }\n`,
      /admission\.yaml:9 environments\[1\]\.namespaces\[0\]: shop is already environment prod's/,
    ],
    [
      `webhook: { url: "https://127.0.0.1:8443" }\nenvironments:\n  - { name: prod, namespaces: [kube-system] }\n`,
      /admission\.yaml:8 environments\[0\]\.namespaces\[0\]: kube-system is left out of the webhook/,
    ],
    [
      `webhook: { url: "https://127.0.0.1:8443" }\nenvironments: []\n`,
      /admission\.yaml:7 environments: must name at least one environment/,
    ],
  ];
  for (const [lines, why] of cases) {
    const file = writeConfig(dir, lines, alice);
    const r = vigil(["admission", "--config", file]);
    assert.equal(r.status, 2, `${lines}\n${r.stderr}`);
    assert.match(r.stderr, why, lines);
  }
  const missing = vigil(["admission"]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--config is required/);
  assert.equal(vigil(["admission", "--help"]).status, 0);
  const token = vigil(["admission", "break-glass", "--kind", "Pod", "--namespace", "shop", "--name", "x", "--reason", "why"]);
  assert.equal(token.status, 2);
  assert.match(token.stderr, /give one of --key, --gpg-key or --x509-program/);
});

test("an API server that cannot be reached is a dependency unavailable (exit 3); an inventory that is a file is bad input (exit 2)", async (t) => {
  if (!requireTools(t, ["ssh-keygen"])) return;
  const dir = tempDir(t, "vigil-admission-deps-");
  const alice = new SshSigner(dir, "alice");
  const file = writeConfig(dir, `webhook: { url: "https://127.0.0.1:8443" }\n${ENVIRONMENTS}`, alice);
  writeFileSync(
    join(dir, "kubeconfig"),
    `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "https://127.0.0.1:1", certificate-authority-data: "${Buffer.from((await issueCa("nobody", 60_000)).certPem).toString("base64")}" } }]
users: [{ name: u, user: { token: "t" } }]
contexts: [{ name: c, context: { cluster: c, user: u } }]
current-context: c
`,
  );
  const down = vigil(["admission", "--config", file]);
  assert.equal(down.status, 3, down.stderr);
  assert.match(down.stderr, /cannot reach the Kubernetes API server https:\/\/127\.0\.0\.1:1/);
  rmSync(join(dir, "inventory"), { recursive: true, force: true });
  writeFileSync(join(dir, "inventory"), "not a folder");
  const bad = vigil(["admission", "--config", file]);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /inventory is a folder/);
});

test("images: verified digests pass; unverified, tags, unparsable and non-string images are refused with the reason; only changed images are judged on update", async (t) => {
  if (!requireKube(t) || !requireTools(t, ["ssh-keygen"])) return;
  const s = await setup(t);
  assert.equal((await s.judge(podRequest(VERIFIED))).rule, "verified");
  assert.equal(
    (await s.judge(podRequest(`registry.example.com/shop/web@${DIGEST}`))).allowed,
    true,
    "the digest is what was verified, with or without the tag",
  );
  assert.equal(
    (await s.judge(podRequest("registry.example.com/shop/web:1.4"))).allowed,
    true,
    "the tag resolves in the inventory to the verified digest",
  );
  const refused: [unknown, RegExp][] = [
    [OTHER, /image "registry\.example\.com\/shop\/tool@sha256:cdcd.*" \(container app\) is not a digest Vigil verified/],
    [
      "registry.example.com/shop/web:1.5",
      /is a tag, not a digest, and the inventory resolves registry\.example\.com\/shop\/web:1\.5 to no verified digest/,
    ],
    ["registry.example.com/shop/web", /resolves registry\.example\.com\/shop\/web:latest to no verified digest/],
    [`mirror.example.org/shop/web@${DIGEST}`, /is not a digest Vigil verified/],
    ["Registry.Example.com/Shop/Web", /is not a valid image reference/],
    [42, /container app has no image name/],
    ["", /container app has no image name/],
  ];
  for (const [image, why] of refused) {
    const d = await s.judge(podRequest(image));
    assert.equal(d.allowed, false, String(image));
    assert.match(d.message, why);
  }
  // Elsewhere nothing is verified.
  const other = await s.judge(podRequest(VERIFIED, { namespace: "staging" }));
  assert.equal(other.allowed, false);
  assert.match(other.message, /namespace staging is no Vigil environment's/);
  // An update that runs what the object already ran (a label, a Pod made before the webhook) is admitted;
  // one that adds an image is judged.
  assert.equal((await s.judge(podRequest(OTHER, { operation: "UPDATE", old: OTHER }))).rule, "unchanged-images");
  const changed = await s.judge(podRequest(OTHER, { operation: "UPDATE", old: VERIFIED }));
  assert.equal(changed.allowed, false);
  // kubectl debug: an ephemeral container added to a running Pod is an image of its own.
  const debug = podRequest(VERIFIED, { operation: "UPDATE", old: VERIFIED });
  (debug.object as any).spec.ephemeralContainers = [{ name: "debugger", image: "registry.example.com/tools/shell:1" }];
  const debugged = await s.judge({ ...debug, subResource: "ephemeralcontainers" });
  assert.equal(debugged.allowed, false);
  assert.match(debugged.message, /image "registry\.example\.com\/tools\/shell:1" \(ephemeral container debugger\) is a tag/);
  // No identity is a pass, the agent's included: what it applies is admitted because it recorded the
  // digests it verified in the inventory before its dry run and apply.
  const agent = "system:serviceaccount:vigil-system:vigil-deployer-shop";
  assert.equal((await s.judge(podRequest(OTHER, { user: agent }))).allowed, false, "the agent's identity alone admits nothing");
  await recordVerifiedImages(s.inventory, "prod", "1".repeat(40), [
    { image: "registry.example.com/shop/tool:2", digest: OTHER.split("@")[1]! },
  ]);
  const recorded = await s.judge(podRequest(OTHER, { user: agent }));
  assert.equal(recorded.rule, "verified", "the miss reads the inventory again and finds the agent's record");
  assert.equal((await s.judge(podRequest("registry.example.com/shop/tool:2"))).allowed, true, "the recorded tag resolves, for anyone");
  // A malformed record is left out: never admitted.
  await s.inventory.setState(
    "admission verified prod",
    JSON.stringify({ images: [{ image: "registry.example.com/x/y:1", digest: "sha1:00" }] }),
  );
  await s.verified.reread();
  assert.equal((await s.judge(podRequest(OTHER))).allowed, false);
  // A deployment recorded since raises the inventory's generation: the next read takes its workloads,
  // though the agent's records are as they were (a read that finds neither moved skips the workloads).
  await s.verified.reread();
  const api = `registry.example.com/shop/api:3@sha256:${"ef".repeat(32)}`;
  await s.inventory.replaceEnvironment("prod", [
    {
      environment: "prod",
      workload: "Deployment shop/api",
      images: [{ image: api, digest: `sha256:${"ef".repeat(32)}` }],
      revision: "2".repeat(40),
      verdict: "pass",
      deployedAt: new Date().toISOString(),
    },
  ]);
  assert.equal((await s.judge(podRequest(api))).rule, "verified", "the miss reads the new deployment");
  assert.equal((await s.judge(podRequest(VERIFIED))).allowed, false, "what no longer runs is no longer admitted");
});

test("the inventory gone (its PostgreSQL stopped): verified images are still judged from the copy, a miss is answered 500 (the API server then fails closed), never admitted", async (t) => {
  if (!requireKube(t) || !requireTools(t, ["ssh-keygen"])) return;
  const bin = requirePostgres(t);
  if (!bin) return;
  const postgres = startPostgres(t, bin);
  const s = await setup(t, { inventory: postgres.database("admission_inventory") });
  const ca = await issueCa("test", 3600_000);
  const leaf = await issueServing(ca, { dns: [], ips: ["127.0.0.1"] }, 3600_000);
  const server = await serveWebhook(
    "127.0.0.1:0",
    { ...leaf, caBundle: ca.certPem },
    (r) => s.judge(r),
    () => {},
  );
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  const dispatcher = new Agent({ connect: { ca: ca.certPem } });
  t.after(() => dispatcher.close());
  const post = async (body: string | Buffer, path = "/validate", method: "POST" | "GET" = "POST") => {
    const res = await request(`https://127.0.0.1:${port}${path}`, {
      method,
      body: method === "POST" ? body : undefined,
      dispatcher,
      headers: { "content-type": "application/json" },
    });
    return { status: res.statusCode, text: await res.body.text() };
  };
  const review = (r: AdmissionRequest) => JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: r });

  // One endpoint: everything else is 404 or 405; bodies that are not reviews are 400; oversized ones 413.
  assert.equal((await post("", "/healthz", "GET")).status, 404);
  assert.equal((await post("", "/validate", "GET")).status, 405);
  assert.equal((await post(review(podRequest(VERIFIED)), "/metrics")).status, 404);
  assert.equal((await post("{not json")).status, 400);
  assert.match(
    (await post(JSON.stringify({ apiVersion: "admission.k8s.io/v1beta1", kind: "AdmissionReview", request: {} }))).text,
    /not an admission\.k8s\.io\/v1 AdmissionReview/,
  );
  assert.match(
    (await post(JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: { operation: "CREATE" } }))).text,
    /request\.uid is missing/,
  );
  assert.equal((await post(Buffer.alloc(MAX_REVIEW_BYTES + 1, 32))).status, 413);

  const ok = JSON.parse((await post(review(podRequest(VERIFIED)))).text);
  assert.deepEqual([ok.response.uid, ok.response.allowed], ["11111111-2222-3333-4444-555555555555", true]);
  const no = JSON.parse((await post(review(podRequest(OTHER)))).text);
  assert.equal(no.response.allowed, false);
  assert.equal(no.response.status.code, 403);

  postgres.stop();
  assert.equal(
    JSON.parse((await post(review(podRequest(VERIFIED)))).text).response.allowed,
    true,
    "the copy still answers for what it holds",
  );
  const miss = await post(review(podRequest(OTHER)));
  assert.equal(miss.status, 500, "a miss must read the inventory, which is gone: no answer, so the failure policy (Fail) refuses");
});

test("break-glass: expired, not yet valid, for an unnamed object, or without an audit log is refused; a dry run checks the token without using it", async (t) => {
  if (!requireKube(t) || !requireTools(t, ["ssh-keygen"])) return;
  const s = await setup(t);
  const sign = (name: string, at: Date, lifetimeMs = 10 * 60_000) =>
    signBreakGlass(breakGlassClaim({ kind: "Pod", namespace: "shop", name }, "INC-7", lifetimeMs, at), { ssh: s.alice.keyFile });
  const judged = (name: string, token: string, extra: Parameters<typeof podRequest>[1] = {}) =>
    s.judge(podRequest(OTHER, { name, annotations: { [BREAK_GLASS_ANNOTATION]: token }, ...extra }));

  const expired = await judged("a", sign("a", new Date(Date.now() - 3600_000)));
  assert.match(expired.message, /the token expired at/);
  const early = await judged("b", sign("b", new Date(Date.now() + 3600_000)));
  assert.match(early.message, /the token is not valid before/);
  const unnamed = await s.judge(
    podRequest(OTHER, { generateName: "web-", annotations: { [BREAK_GLASS_ANNOTATION]: sign("web-", new Date()) } }),
  );
  assert.match(unnamed.message, /cannot admit an object without a name \(generateName\)/);

  const token = sign("c", new Date());
  const dry = await judged("c", token, { dryRun: true });
  assert.equal(dry.allowed, true, dry.message);
  const real = await judged("c", token);
  assert.equal(real.allowed, true, "the dry run did not use the token up");
  const again = await judged("c", token);
  assert.match(again.message, /was used already/);

  const noAudit = await setup(t, { audit: false });
  const d = await noAudit.judge(
    podRequest(OTHER, {
      name: "d",
      annotations: {
        [BREAK_GLASS_ANNOTATION]: signBreakGlass(breakGlassClaim({ kind: "Pod", namespace: "shop", name: "d" }, "INC-7", 60_000), {
          ssh: noAudit.alice.keyFile,
        }),
      },
    }),
  );
  assert.equal(d.allowed, false);
  assert.match(d.message, /break-glass needs an audit log/);
});

test("break-glass across two replicas: both judge the same token at the same instant, exactly one admits (the use is one atomic create on the API server)", async (t) => {
  if (!requireKube(t) || !requireTools(t, ["ssh-keygen"])) return;
  const first = await setup(t);
  // A second replica: its own copy of the inventory, connection and audit log, the same configuration.
  const logKey = makeLogKey(tempDir(t, "vigil-admission-replica-"));
  const verified = await VerifiedImages.open(first.config.inventory, ["prod"], first.config.refreshMs);
  const audit = await openAuditLog(join(first.dir, "audit-2"), { signingKeyFile: logKey.file });
  const cluster = await connectCluster({ kubeconfig: kube.cluster.admin.kubeconfigPath });
  t.after(async () => {
    verified.close();
    await audit.close();
    await cluster.close();
  });
  const second = decisionContext(first.config, verified, audit, await breakGlassContext(first.config), cluster);
  for (let i = 0; i < 8; i++) {
    const name = `race-${i}`;
    const claim = breakGlassClaim({ kind: "Pod", namespace: "shop", name }, "INC-9: both replicas", 10 * 60_000);
    const token = signBreakGlass(claim, { ssh: first.alice.keyFile });
    const request = podRequest(OTHER, { name, annotations: { [BREAK_GLASS_ANNOTATION]: token } });
    const [a, b] = await Promise.all([first.judge(request), decide(request, second)]);
    assert.equal([a, b].filter((d) => d.allowed).length, 1, `${name}: ${a.message} | ${b.message}`);
    assert.match([a, b].find((d) => !d.allowed)!.message, /was used already/);
    const used = await kubeApi(kube.cluster, "GET", `/api/v1/namespaces/vigil-system/configmaps/vigil-break-glass-${claim.id}`);
    assert.equal(used.status, 200);
    assert.equal(used.body.data.object, `Pod shop/${name}`);
    assert.equal(used.body.data.user, "mallory");
  }
});

test("a used token's record is kept a day past the token's expiry (a replica whose clock is behind still finds it), then removed; other ConfigMaps and undatable records are left alone", async (t) => {
  if (!requireKube(t) || !requireTools(t, ["ssh-keygen"])) return;
  const s = await setup(t);
  const cluster = await connectCluster({ kubeconfig: kube.cluster.admin.kubeconfigPath });
  t.after(() => cluster.close());
  const claim = breakGlassClaim({ kind: "Pod", namespace: "shop", name: "expiring" }, "INC-10", 60_000);
  const used = await s.judge(
    podRequest(OTHER, { name: "expiring", annotations: { [BREAK_GLASS_ANNOTATION]: signBreakGlass(claim, { ssh: s.alice.keyFile }) } }),
  );
  assert.equal(used.allowed, true, used.message);
  const record = `/api/v1/namespaces/vigil-system/configmaps/vigil-break-glass-${claim.id}`;
  const other = {
    metadata: { name: "vigil-break-glass-notes", labels: { "vigil.dev/break-glass": "used" } },
    data: { notAfter: "whenever" },
  };
  const unrelated = { metadata: { name: "team-settings" }, data: { notAfter: "2000-01-01T00:00:00Z" } };
  for (const body of [other, unrelated])
    assert.equal((await kubeApi(kube.cluster, "POST", "/api/v1/namespaces/vigil-system/configmaps", body)).status, 201);

  const expiry = Date.parse(claim.notAfter);
  assert.deepEqual(await forgetExpiredTokens(cluster, "vigil-system", new Date(expiry + USED_TOKEN_RETENTION_MS)), []);
  assert.equal((await kubeApi(kube.cluster, "GET", record)).status, 200, "kept for the retention");
  const forgotten = await forgetExpiredTokens(cluster, "vigil-system", new Date(expiry + USED_TOKEN_RETENTION_MS + 1000));
  assert.ok(forgotten.includes(`vigil-break-glass-${claim.id}`), forgotten.join(", "));
  assert.equal((await kubeApi(kube.cluster, "GET", record)).status, 404);
  for (const name of ["vigil-break-glass-notes", "team-settings"])
    assert.equal((await kubeApi(kube.cluster, "GET", `/api/v1/namespaces/vigil-system/configmaps/${name}`)).status, 200, name);
});
