// Kubernetes label selectors (matchLabels and matchExpressions), as admission matching uses them.

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}

/** An empty or absent selector matches everything. */
export function matchesSelector(selector: LabelSelector | undefined, labels: Record<string, string> = {}): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    switch (e.operator) {
      case "In":
        if (!has || !(e.values ?? []).includes(value!)) return false;
        break;
      case "NotIn":
        if (has && (e.values ?? []).includes(value!)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      default:
        throw new Error(`unknown label selector operator ${String(e.operator)}`);
    }
  }
  return true;
}

const operators = new Set(["In", "NotIn", "Exists", "DoesNotExist"]);

/** Why a selector is invalid (checked when a policy is loaded, so matching never meets one), or null. */
export function selectorProblem(selector: unknown): string | null {
  if (selector === undefined || selector === null) return null;
  if (typeof selector !== "object") return "a label selector must be a mapping";
  const s = selector as LabelSelector;
  for (const e of s.matchExpressions ?? []) {
    if (!operators.has(e.operator)) return `unknown operator "${e.operator}" (use In, NotIn, Exists or DoesNotExist)`;
    if ((e.operator === "In" || e.operator === "NotIn") && !e.values?.length) return `operator ${e.operator} needs values`;
  }
  return null;
}
