// The README's first command (`npm start`: scripts/demo.ts) is a contract: on a machine with what
// scripts/setup.ts installs, it sets up its example itself, applies the signed revision, blocks the commit
// of an untrusted key, verifies the audit log, and serves the console until it is stopped.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { test } from "node:test";
import { kubectlBinary, requireKube } from "./helpers/kube.ts";
import { tempDir } from "./helpers/tools.ts";

const root = join(import.meta.dirname, "..");

/** A GET over HTTPS to a server whose certificate is pinned by its SHA-256 fingerprint, as the demo prints it. */
function pinnedGet(url: string, fingerprint: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      const presented = (res.socket as import("node:tls").TLSSocket).getPeerCertificate().fingerprint256;
      if (presented !== fingerprint) {
        res.destroy();
        reject(new Error(`the console presented ${presented}, not the certificate the demo printed (${fingerprint})`));
        return;
      }
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("npm start: the signed revision is applied, an untrusted key's commit is blocked, the audit log verifies, the console serves it; SIGTERM stops it all with exit 0", {
  timeout: 600_000,
}, async (t) => {
  if (!requireKube(t, [kubectlBinary])) return;
  // A fresh machine has no kubectl on its PATH: one that fails stands first here, so the demo must use the
  // one setup builds.
  const shadow = tempDir(t);
  writeFileSync(join(shadow, "kubectl"), "#!/bin/sh\necho 'a kubectl from PATH was run' >&2\nexit 97\n");
  chmodSync(join(shadow, "kubectl"), 0o755);
  const demo = spawn(process.execPath, [join(root, "scripts", "demo.ts")], {
    cwd: root,
    env: { ...process.env, PATH: `${shadow}:${process.env.PATH ?? ""}` },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  demo.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => demo.on("close", resolve));
  t.after(() => demo.kill("SIGKILL"));

  const serving = /The example's console is running: (\S+)\n\s+sign in with this token \(role auditor\): (\S+)\n.*SHA-256 ([0-9A-F:]+)/;
  const ready = await new Promise<RegExpExecArray>((resolve, reject) => {
    demo.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const m = serving.exec(out);
      if (m) resolve(m);
    });
    void exited.then((code) => reject(new Error(`the demo exited ${code} before serving its console\n${out}\n${err}`)));
  });
  assert.match(out, /The signed revision was applied; the commit by an untrusted key was blocked/);
  const [, url, token, fingerprint] = ready;

  const me = await pinnedGet(new URL("/api/v1/me", url).href, fingerprint!, token);
  assert.equal(me.status, 200, me.body);
  assert.deepEqual(JSON.parse(me.body), { name: "you", role: "auditor", via: "token" });
  assert.equal((await pinnedGet(new URL("/api/v1/me", url).href, fingerprint!)).status, 401, "no token, no answer");
  const environments = await pinnedGet(new URL("/api/v1/environments", url).href, fingerprint!, token);
  assert.equal(environments.status, 200, environments.body);
  assert.match(environments.body, /"staging"/);

  demo.kill("SIGTERM");
  assert.equal(await exited, 0, err);
});
