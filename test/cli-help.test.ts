// The command line's own contract: every command is listed and has --help, an unknown command is a usage
// error (exit 2) that shows the list, and a command's words alone show its usage.
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { vigil } from "./helpers/tools.ts";

/** The commands `vigil --help` lists, as their words, with the summary it gives each. */
function listedCommands(): { words: string[]; summary: string }[] {
  const r = vigil(["--help"]);
  assert.equal(r.status, 0);
  return [...r.stdout.matchAll(/^ {2}vigil (\S+(?: \S+)?) {2,}(.+)$/gm)].map((m) => ({ words: m[1]!.trim().split(" "), summary: m[2]! }));
}

test("vigil --help lists every command, and each one's --help shows its summary and usage and exits 0", () => {
  const commands = listedCommands();
  assert.ok(commands.length >= 10, `only ${commands.length} commands listed`);
  for (const { words, summary } of commands) {
    const r = vigil([...words, "--help"]);
    assert.equal(r.stdout.split("\n")[0], summary, `vigil ${words.join(" ")} --help starts with the summary the list gives`);
    assert.equal(r.status, 0, `vigil ${words.join(" ")} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^usage: vigil ${words.join(" ")}`, "m"), `vigil ${words.join(" ")} --help shows its usage`);
    assert.match(r.stdout, /--json/);
  }
});

test("an unknown command is exit 2 with the list; a command area alone shows its commands' usage", () => {
  const unknown = vigil(["deploy", "everything"]);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command "deploy everything"/);
  assert.match(unknown.stderr, /vigil policy check/);
  const area = vigil(["verify"]);
  assert.equal(area.status, 2);
  for (const words of ["verify commits", "verify blob", "verify image"]) assert.match(area.stdout, new RegExp(`vigil ${words}: `));
  assert.equal(vigil([]).status, 2);
});
