import { adoptObjects, type AdoptResult } from "../../agent/adopt.ts";
import { required, defineCommand } from "../command.ts";

export const agentAdopt = defineCommand({
  usage:
    "vigil agent adopt --config FILE --env ENV --reason TEXT KIND[.GROUP]/NAMESPACE/NAME... [--kubeconfig FILE [--context NAME]] [--json]",
  help: [
    "  --config FILE      the agent configuration (kind: AgentConfig); its audit log records the adoption",
    "  --env ENV          the environment that adopts",
    "  --reason TEXT      why (recorded with who you are, as the API server says)",
    "  --kubeconfig FILE  connect with this kubeconfig, as yourself (default: the environment's cluster settings)",
    "  --context NAME     the kubeconfig's context",
    "  KIND[.GROUP]/NAMESPACE/NAME   e.g. configmap/shop/settings, deployment.apps/shop/web; KIND/NAME when cluster-scoped",
    "",
    "Exit codes: 0 adopted (or already the environment's), 1 refused (outside its namespaces, another",
    "environment's, not readable), 2 bad input (an object that does not exist, a bad name), 3 unreachable.",
  ].join("\n"),
  options: {
    config: { type: "string" },
    env: { type: "string" },
    reason: { type: "string" },
    kubeconfig: { type: "string" },
    context: { type: "string" },
  },
  positionals: true,
  async run(values, positionals) {
    const result = await adoptObjects({
      configFile: required(values, "config", this),
      environment: required(values, "env", this),
      reason: required(values, "reason", this),
      objects: positionals,
      ...(typeof values.kubeconfig === "string" && { kubeconfig: values.kubeconfig }),
      ...(typeof values.context === "string" && { context: values.context }),
    });
    process.stdout.write(values.json === true ? `${JSON.stringify(result, null, 2)}\n` : table(result));
    return result.exitCode;
  },
});

function table(r: AdoptResult): string {
  const rows = r.objects.map((o) => [o.outcome, `${o.kind} ${o.namespace ? `${o.namespace}/` : ""}${o.name}`, o.message]);
  const width = (i: number) => Math.max(...rows.map((row) => row[i]!.length), i === 0 ? 7 : 6);
  const line = (cells: string[]) => `${cells[0]!.padEnd(width(0))}  ${cells[1]!.padEnd(width(1))}  ${cells[2]}\n`;
  const refused = r.objects.some((o) => o.outcome === "refused");
  return [
    line(["OUTCOME", "OBJECT", "WHY"]),
    ...rows.map(line),
    `\nenvironment ${r.environment}, by ${r.user}: "${r.reason}"; ${refused ? "nothing adopted or recorded" : r.recorded ? `recorded in ${r.recorded}` : "nothing to adopt"}\n`,
  ].join("");
}
