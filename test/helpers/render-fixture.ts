// Render tests: checkouts written from a map of files, and the refusal a render rejects with.
import { strict as assert } from "node:assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { TestContext } from "node:test";
import { InputError } from "../../src/core/errors.ts";
import { tempDir } from "./tools.ts";

/** Writes files (path → content) under dir. */
export function writeTree(dir: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
}

/** A checkout of a revision: `files` under a folder named "checkout" (its parent is outside the revision). */
export function checkout(t: TestContext, files: Record<string, string>): string {
  const root = join(tempDir(t, "vigil-render-"), "checkout");
  mkdirSync(root);
  writeTree(root, files);
  return root;
}

/** The InputError a render rejects with (anything else fails the test). */
export async function renderRefusal(promise: Promise<unknown>): Promise<InputError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  assert.fail("expected the render to be refused");
}
