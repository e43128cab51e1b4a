// Files written on request (--output, --pinned, --sbom-output) replace a regular file whole, and write a
// device or FIFO in place: renaming over one would replace the device itself (as root, `--output
// /dev/null` once turned /dev/null into a regular file for the whole machine).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { writeOutputFile } from "../src/cli/output-file.ts";
import { run, tempDir } from "./helpers/tools.ts";

/**
 * What a reader of the FIFO at `path` receives, started before anything is written to it; killed after
 * 20 s, so a FIFO renamed away (the reader then waits for a writer forever) fails the test, not hangs it.
 */
function readFifo(path: string): Promise<string> {
  const reader = spawn("cat", [path], { timeout: 20_000 });
  let text = "";
  reader.stdout.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
  return new Promise((resolve, reject) => {
    reader.on("error", reject);
    reader.on("close", () => resolve(text));
  });
}

test("a FIFO named as the output is written in place and stays a FIFO", async (t) => {
  const dir = tempDir(t);
  const fifo = join(dir, "out.fifo");
  run("mkfifo", [fifo]);
  const received = readFifo(fifo);
  writeOutputFile(fifo, "the document\n");
  assert.equal(await received, "the document\n");
  assert.ok(statSync(fifo).isFIFO());
  assert.deepEqual(readdirSync(dir), ["out.fifo"]);
});

test("a regular file is replaced whole, with no temporary file left; a failed write leaves nothing", (t) => {
  const dir = tempDir(t);
  const file = join(dir, "sbom.json");
  writeFileSync(file, "old");
  writeOutputFile(file, "new");
  assert.equal(readFileSync(file, "utf8"), "new");
  assert.deepEqual(readdirSync(dir), ["sbom.json"]);
  mkdirSync(join(dir, "taken"));
  assert.throws(() => writeOutputFile(join(dir, "missing", "sbom.json"), "x"), /ENOENT/);
  assert.deepEqual(readdirSync(dir).sort(), ["sbom.json", "taken"]);
});

test("a link planted at the temporary name is refused, and the file it points at is left as it was", (t) => {
  const dir = tempDir(t);
  const victim = join(dir, "victim");
  writeFileSync(victim, "precious");
  symlinkSync(victim, join(dir, `sbom.json.vigil-${process.pid}.tmp`));
  assert.throws(
    () => writeOutputFile(join(dir, "sbom.json"), "attacker's choice"),
    /sbom\.json\.vigil-\d+\.tmp is in the way .*remove it and retry/,
  );
  assert.equal(readFileSync(victim, "utf8"), "precious");
  assert.ok(!readdirSync(dir).includes("sbom.json"));
});

test("vigil sbom --output FIFO: the SBOM goes through the FIFO, which is still one afterwards", async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, "root/app/node_modules/lodash"), { recursive: true });
  writeFileSync(join(dir, "root/app/node_modules/lodash/package.json"), JSON.stringify({ name: "lodash", version: "4.17.21" }));
  const fifo = join(dir, "sbom.fifo");
  run("mkfifo", [fifo]);
  const received = readFifo(fifo);
  // spawnSync would block this process, and so the reader's output, until vigil ends: run vigil async.
  const r = await new Promise<number | null>((resolve) => {
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, "..", "src/cli/main.ts"), "sbom", `dir:${join(dir, "root")}`, "-o", "cyclonedx-json", "--output", fifo],
      { stdio: "ignore" },
    );
    child.on("close", resolve);
  });
  assert.equal(r, 0);
  assert.ok(JSON.parse(await received).components.some((c: { purl: string }) => c.purl === "pkg:npm/lodash@4.17.21"));
  assert.ok(statSync(fifo).isFIFO());
});
