// The README's first command (`npm start`: scripts/demo.ts) is a contract: on a machine with what
// scripts/setup.ts installs, it sets up its example itself, applies the signed revision, blocks the commit
// of an untrusted key, verifies the audit log, and serves the console until it is stopped.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { connect } from "node:tls";
import { Agent, fetch } from "undici";
import { kubectlBinary, requireKube } from "./helpers/kube.ts";
import { tempDir } from "./helpers/tools.ts";

const root = join(import.meta.dirname, "..");

/**
 * The console's certificate, taken from a first handshake that sends nothing and kept only if its SHA-256
 * fingerprint is the one the demo printed: the client then trusts that certificate and nothing else, so
 * the token never goes to a server that was not checked.
 */
async function pinnedCertificate(url: string, fingerprint: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = connect({
    host: hostname,
    port: Number(port),
    rejectUnauthorized: false,
    ...(isIP(hostname) ? {} : { servername: hostname }),
  });
  try {
    await once(socket, "secureConnect");
    const presented = socket.getPeerX509Certificate();
    assert.equal(presented?.fingerprint256, fingerprint, "the console presents the certificate the demo printed");
    return presented!.toString();
  } finally {
    socket.destroy();
  }
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

  const dispatcher = new Agent({ connect: { ca: await pinnedCertificate(url!, fingerprint!) } });
  const get = async (path: string, bearer?: string) => {
    const r = await fetch(new URL(path, url), { dispatcher, headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
    return { status: r.status, body: await r.text() };
  };
  const me = await get("/api/v1/me", token);
  assert.equal(me.status, 200, me.body);
  assert.deepEqual(JSON.parse(me.body), { name: "you", role: "auditor", via: "token" });
  assert.equal((await get("/api/v1/me")).status, 401, "no token, no answer");
  const environments = await get("/api/v1/environments", token);
  assert.equal(environments.status, 200, environments.body);
  assert.match(environments.body, /"staging"/);
  await dispatcher.close();

  demo.kill("SIGTERM");
  assert.equal(await exited, 0, err);
});
