// Read-only fetch credentials: a token never travels over plain HTTP off loopback, and a credential
// file that cannot be read is bad input naming the file, before git runs.
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { InputError, UnavailableError } from "../src/core/errors.ts";
import { openRepo } from "../src/git/repo.ts";
import { tempDir } from "./helpers/tools.ts";

test("a token is refused for a plain-HTTP remote that is not loopback; on loopback the fetch is tried", async (t) => {
  const dir = tempDir(t);
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, "s3cr3t-token\n");
  await assert.rejects(
    openRepo("http://git.example.com/config.git", { cacheDir: dir, credential: { tokenFile } }),
    (e: Error) =>
      e instanceof InputError &&
      /a token is never sent over plain HTTP; use an https:\/\/ URL/.test(e.message) &&
      !e.message.includes("s3cr3t"),
  );
  await assert.rejects(
    openRepo("http://127.0.0.1:9/config.git", { cacheDir: dir, credential: { tokenFile } }),
    (e: Error) =>
      e instanceof UnavailableError && /cannot fetch http:\/\/127\.0\.0\.1:9\/config\.git/.test(e.message) && !e.message.includes("s3cr3t"),
  );
});

test("a missing or empty credential file is bad input naming it", async (t) => {
  const dir = tempDir(t);
  await assert.rejects(
    openRepo("https://git.example.com/config.git", { cacheDir: dir, credential: { tokenFile: join(dir, "absent") } }),
    (e: Error) => e instanceof InputError && e.message === `${join(dir, "absent")}: cannot read the token: ENOENT`,
  );
  writeFileSync(join(dir, "empty"), "\n");
  await assert.rejects(
    openRepo("ssh://git@git.example.com/config.git", { cacheDir: dir, credential: { sshKeyFile: join(dir, "empty") } }),
    (e: Error) => e instanceof InputError && /the SSH key file is empty/.test(e.message),
  );
});
