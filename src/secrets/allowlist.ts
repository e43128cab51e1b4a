// The trust policy's secrets.allow entries: known test values, fixtures and files that may hold what looks
// like a secret. An entry allows a finding only when every field it gives matches (path AND rule AND
// fingerprint), so "this fingerprint in this file" can be said exactly. An entry that gives only paths
// takes those files out of the scan altogether.
import { InputError } from "../core/errors.ts";
import { globMatcher } from "../core/patterns.ts";
import type { SecretsAllowEntry } from "../api/trust-policy.ts";
import type { TrustPolicy } from "../trust/policy.ts";
import { secretRules } from "./rules.ts";

interface CompiledEntry {
  paths?: ((path: string) => boolean)[];
  rules?: Set<string>;
  fingerprints?: Set<string>;
}

export class Allowlist {
  private readonly entries: CompiledEntry[];

  constructor(
    entries: readonly SecretsAllowEntry[],
    where: (path: readonly PropertyKey[]) => string = (p) => `secrets.allow${p.map((x) => `[${String(x)}]`).join("")}`,
  ) {
    const known = new Set(secretRules.map((r) => r.id));
    this.entries = entries.map((e, i) => {
      e.rules?.forEach((r, j) => {
        // A misspelt rule id would allow nothing and leave a person wondering: refused by name.
        if (!known.has(r)) throw new InputError(`${where(["secrets", "allow", i, "rules", j])}: unknown secret rule "${r}"`);
      });
      return {
        ...(e.paths ? { paths: e.paths.map(globMatcher) } : {}),
        ...(e.rules ? { rules: new Set(e.rules) } : {}),
        ...(e.fingerprints ? { fingerprints: new Set(e.fingerprints) } : {}),
      };
    });
  }

  static fromPolicy(policy: TrustPolicy | undefined): Allowlist {
    return new Allowlist(policy?.doc.secrets?.allow ?? [], policy ? (p) => policy.where(p) : undefined);
  }

  /** True when the file need not be read: an entry allows everything in it. */
  skipsPath(path: string): boolean {
    return this.entries.some((e) => !e.rules && !e.fingerprints && e.paths!.some((m) => m(path)));
  }

  allows(path: string, finding: { rule: string; fingerprint: string }): boolean {
    return this.entries.some(
      (e) =>
        (!e.paths || e.paths.some((m) => m(path))) &&
        (!e.rules || e.rules.has(finding.rule)) &&
        (!e.fingerprints || e.fingerprints.has(finding.fingerprint)),
    );
  }
}
