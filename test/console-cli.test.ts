// vigil console as a user runs it: its help, a configuration that is wrong (exit 2, naming file, line
// and field), a log signed by another key or edited (exit 1), an address already taken (exit 3), a
// certificate from files that a client verifies by its fingerprint, and vigil console token.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { Agent, fetch } from "undici";
import { makeConsoleFixture } from "./helpers/console-fixture.ts";
import { makeLogKey } from "./helpers/audit.ts";
import { requireTools, run, tempDir, vigil } from "./helpers/tools.ts";

const cli = new URL("../src/cli/main.ts", import.meta.url).pathname;

test("vigil console --help, and vigil console token", () => {
  const help = vigil(["console", "--help"]);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--config FILE/);
  assert.equal(vigil(["console"]).status, 2);
  const made = vigil(["console", "token", "--name", "dana", "--role", "auditor", "--json"]);
  assert.equal(made.status, 0);
  const { token, entry } = made.json();
  assert.equal(entry.sha256, createHash("sha256").update(token).digest("hex"));
  assert.deepEqual([entry.name, entry.role], ["dana", "auditor"]);
  assert.match(vigil(["console", "token", "--name", "dana", "--role", "admin"]).stderr, /--role "admin": must be viewer or auditor/);
  assert.equal(vigil(["console", "token", "--name", "dana", "--role", "admin"]).status, 2);
});

test("a wrong configuration is refused with exit 2, naming file, line and field", async (t) => {
  const dir = tempDir(t);
  const world = await makeConsoleFixture(dir);
  const good = readFileSync(world.configFile, "utf8");
  const cases: [string, string, RegExp][] = [
    [
      "an unknown field",
      good.replace("accessLog: access.log", "accesslog: access.log"),
      /bad\.yaml:\d+ accesslog: unknown field "accesslog"/,
    ],
    [
      "a role that does not exist",
      good.replace("role: viewer", "role: admin"),
      /bad\.yaml:\d+ tokens\[1\]\.role: must be "viewer" or "auditor"/,
    ],
    [
      "a token kept in clear",
      good.replace(/sha256: [0-9a-f]{64} }\n$/, "sha256: hunter2 }\n"),
      /tokens\[1\]\.sha256: must be the token's SHA-256/,
    ],
    ["nobody may call it", good.replace(/tokens:[\s\S]*$/, ""), /give tokens or oidc/],
    [
      "a log that is not there",
      good.replace(`log: "${world.logDir}"`, "log: no-such-log"),
      /bad\.yaml:\d+ audit\.log: .*no-such-log does not exist/,
    ],
    [
      "an inventory that is not there",
      good.replace("inventory: inventory", "inventory: inventroy"),
      /bad\.yaml:\d+ inventory: .*inventroy does not exist/,
    ],
    [
      "a verifier key that is not one",
      good.replace(/verifierKey: ".*"/, 'verifierKey: "example.com+zz+AAAA"'),
      /audit\.verifierKey: the key hash is not eight lowercase hex digits/,
    ],
    [
      "an issuer over plain HTTP",
      `${good}oidc: { issuer: "http://login.example.com", audience: console, roles: { viewer: [a] } }\n`,
      /bad\.yaml:\d+ oidc\.issuer: an issuer must be https:\/\//,
    ],
    [
      "half a certificate",
      good.replace("tls: { generate: localhost }", "tls: { certFile: cert.pem }"),
      /bad\.yaml:\d+ tls: must be \{ certFile, keyFile \} or \{ generate: localhost \}/,
    ],
  ];
  for (const [what, text, reason] of cases) {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, text);
    const r = vigil(["console", "--config", file]);
    assert.equal(r.status, 2, `${what}: ${r.stderr}`);
    assert.match(r.stderr, reason, what);
    assert.match(r.stderr.replace(/\\/g, "/"), /bad\.yaml/, what);
  }
});

test("a log whose checkpoints another key signed, or whose entries were edited, is refused at start (exit 1)", async (t) => {
  const dir = tempDir(t);
  const world = await makeConsoleFixture(dir);
  const other = makeLogKey(tempDir(t), "example.com/vigil/console");
  const file = join(dir, "other-key.yaml");
  writeFileSync(file, readFileSync(world.configFile, "utf8").replace(world.verifierKey, other.verifierKey));
  const wrongKey = vigil(["console", "--config", file]);
  assert.equal(wrongKey.status, 1, wrongKey.stderr);
  assert.match(wrongKey.stderr, /not signed by example\.com\/vigil\/console\+/);

  const entries = join(world.logDir, "entries");
  writeFileSync(entries, readFileSync(entries).toString("latin1").replace('"signer":"carol"', '"signer":"carlo"'), "latin1");
  const edited = vigil(["console", "--config", world.configFile]);
  assert.equal(edited.status, 1, edited.stderr);
  assert.match(edited.stderr, /entry 4: its bytes do not match/);
});

/** Runs vigil console until it prints its address; stop() sends SIGTERM and resolves with the exit code. */
async function serve(args: string[]): Promise<{ first: string; stop(): Promise<number> }> {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (b) => (err += b));
  const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? -1)));
  const first = await new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (b) => {
      out += b;
      if (out.includes("\n")) resolve(out.split("\n")[0]!);
    });
    void exited.then((code) => reject(new Error(`vigil console exited ${code}: ${err}`)));
  });
  return { first, stop: async () => (child.kill("SIGTERM"), exited) };
}

test("a certificate from files: the client verifies it by its CA and fingerprint; SIGTERM stops the console with exit 0", async (t) => {
  if (!requireTools(t, ["openssl"])) return;
  const dir = tempDir(t);
  const world = await makeConsoleFixture(dir);
  run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout",
    join(dir, "key.pem"),
    "-out",
    join(dir, "cert.pem"),
  ]);
  writeFileSync(
    world.configFile,
    readFileSync(world.configFile, "utf8").replace("tls: { generate: localhost }", "tls: { certFile: cert.pem, keyFile: key.pem }"),
  );
  const console = await serve(["console", "--config", world.configFile, "--json"]);
  const { url, fingerprint } = JSON.parse(console.first);
  const cert = readFileSync(join(dir, "cert.pem"));
  assert.equal(fingerprint, new X509Certificate(cert).fingerprint256);
  const r = await fetch(new URL("/api/v1/me", url), {
    dispatcher: new Agent({ connect: { ca: cert } }),
    headers: { authorization: `Bearer ${world.tokens.viewer}` },
  });
  assert.equal(r.status, 200);
  const page = await fetch(url, { dispatcher: new Agent({ connect: { ca: cert } }) });
  assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/);
  assert.match(await page.text(), /<title>Vigil console<\/title>/);
  // Trusting anything else is refused by the client: the console's certificate is what it says.
  await assert.rejects(fetch(new URL("/api/v1/me", url)));
  assert.equal(await console.stop(), 0);
});

test("an address already in use: exit 3", async (t) => {
  const dir = tempDir(t);
  const world = await makeConsoleFixture(dir);
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
  t.after(() => busy.close());
  writeFileSync(
    world.configFile,
    readFileSync(world.configFile, "utf8").replace("127.0.0.1:0", `127.0.0.1:${(busy.address() as AddressInfo).port}`),
  );
  const r = vigil(["console", "--config", world.configFile]);
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
});
