// The advisory the vulnerability tests judge images against (lodash's prototype pollution: HIGH 7.4,
// fixed in 4.17.19), the database made from it, and an image released with lodash in its SBOM.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { attestImage, signImage } from "../../src/artifact/sign-image.ts";
import { PREDICATE_TYPES } from "../../src/sigstore/intoto.ts";
import { importAdvisories } from "../../src/vuln/import.ts";
import { SqliteStore } from "../../src/vuln/sqlite-store.ts";
import type { CosignKeyPair, SigningRegistry } from "./image-signing.ts";
import { pushTestImage } from "./registry.ts";

export const LODASH_ADVISORY = {
  id: "GHSA-p6mc-m468-83gw",
  modified: "2024-01-01T00:00:00Z",
  aliases: ["CVE-2020-8203"],
  severity: [{ type: "CVSS_V3", score: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:H" }],
  affected: [
    { package: { ecosystem: "npm", name: "lodash" }, ranges: [{ type: "SEMVER", events: [{ introduced: "0" }, { fixed: "4.17.19" }] }] },
  ],
};

/** `advisories` written as dir/advisories.json, OSV's JSON array form; its path. */
export function writeAdvisories(dir: string, advisories: object[] = [LODASH_ADVISORY]): string {
  const file = join(dir, "advisories.json");
  writeFileSync(file, JSON.stringify(advisories));
  return file;
}

/** A new SQLite advisory database at dir/db holding `advisories`, open; the caller closes it. */
export async function advisoryStore(dir: string, advisories: object[] = [LODASH_ADVISORY]): Promise<SqliteStore> {
  const store = SqliteStore.open(join(dir, "db"), { create: true });
  await importAdvisories(store, [writeAdvisories(dir, advisories)]);
  return store;
}

/** A CycloneDX SBOM holding lodash at `version`. */
export const lodashSbom = (version: string) => ({
  bomFormat: "CycloneDX",
  specVersion: "1.5",
  components: [{ type: "library", name: "lodash", version, purl: `pkg:npm/lodash@${version}` }],
});

/** A test image pushed as repository:tag, signed with `key` and attested with an SBOM holding lodash at `lodash`. */
export async function releaseWithLodash(
  s: SigningRegistry,
  key: CosignKeyPair,
  repository: string,
  tag: string,
  lodash: string,
): Promise<string> {
  const reference = `${repository}:${tag}`;
  await pushTestImage(s.client.repository(repository), { tag });
  await signImage(s.client, reference, key.signing);
  await attestImage(s.client, reference, lodashSbom(lodash), PREDICATE_TYPES.cyclonedx, key.signing);
  return reference;
}
