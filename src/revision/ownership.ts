// Path ownership: who may change what. The most specific matching pattern decides: the one with the
// most literal (non-wildcard) characters; on a tie, the one listed first.
import { PatternRules } from "../core/patterns.ts";
import { expandPrincipals } from "../trust/policy.ts";
import type { TrustPolicyDocument } from "../api/trust-policy.ts";

export class Ownership {
  private readonly rules: PatternRules<Set<string>>;
  constructor(doc: TrustPolicyDocument) {
    this.rules = new PatternRules(doc.paths.map((p) => ({ pattern: p.pattern, value: expandPrincipals(doc, p.owners) })));
  }

  /** The rule that decides who owns `path`, or undefined when no rule covers it. */
  ruleFor(path: string): { pattern: string; owners: Set<string> } | undefined {
    const rule = this.rules.ruleFor(path);
    return rule && { pattern: rule.pattern, owners: rule.value };
  }

  /** Paths `signer` may not change, each with the pattern that decided (null: no rule covers it). */
  unowned(paths: readonly string[], signer: string): { path: string; pattern: string | null }[] {
    const out: { path: string; pattern: string | null }[] = [];
    for (const path of paths) {
      const rule = this.ruleFor(path);
      if (!rule) out.push({ path, pattern: null });
      else if (!rule.owners.has(signer)) out.push({ path, pattern: rule.pattern });
    }
    return out;
  }
}
