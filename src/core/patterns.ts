// Rules keyed by glob patterns where the most specific matching pattern decides: the one with the
// most literal (non-wildcard) characters; on a tie, the one listed first. Path ownership and image
// rules in the trust policy both read this way, so a narrower rule always overrides a broader one.
import picomatch from "picomatch";

interface Compiled<T> {
  pattern: string;
  value: T;
  index: number;
  specificity: number;
  matches: (subject: string) => boolean;
}

export class PatternRules<T> {
  private readonly rules: Compiled<T>[];
  constructor(rules: readonly { pattern: string; value: T }[]) {
    this.rules = rules
      .map(({ pattern, value }, index) => ({
        pattern,
        value,
        index,
        specificity: pattern.replace(/[*?[\]{}!]/g, "").length,
        matches: picomatch(pattern, { dot: true, nonegate: true, noextglob: true }),
      }))
      .sort((a, b) => b.specificity - a.specificity || a.index - b.index);
  }

  /** The rule that decides for `subject` (its pattern, value and position in the list), or undefined. */
  ruleFor(subject: string): { pattern: string; value: T; index: number } | undefined {
    return this.rules.find((r) => r.matches(subject));
  }
}
