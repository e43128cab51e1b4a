// Path ownership: who may change what. The most specific matching pattern decides: the one with the
// most literal (non-wildcard) characters; on a tie, the one listed first.
import picomatch from "picomatch";
import { expandPrincipals, type TrustPolicyDocument } from "../core/trust-policy.ts";

interface Rule {
  pattern: string;
  owners: Set<string>;
  specificity: number;
  index: number;
  matches: (path: string) => boolean;
}

export class Ownership {
  private readonly rules: Rule[];
  constructor(doc: TrustPolicyDocument) {
    this.rules = doc.paths
      .map((p, index) => ({
        pattern: p.pattern,
        owners: expandPrincipals(doc, p.owners),
        specificity: p.pattern.replace(/[*?[\]{}!]/g, "").length,
        index,
        matches: picomatch(p.pattern, { dot: true, nonegate: true, noextglob: true }),
      }))
      .sort((a, b) => b.specificity - a.specificity || a.index - b.index);
  }

  /** The rule that decides who owns `path`, or undefined when no rule covers it. */
  ruleFor(path: string): { pattern: string; owners: Set<string> } | undefined {
    return this.rules.find((r) => r.matches(path));
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
