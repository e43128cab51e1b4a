import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { connectMonitorLease, MonitorService } from "../../agent/monitor-service.ts";
import { loadMonitorConfig } from "../../monitor/config.ts";
import { defineCommand, required } from "../command.ts";

export const monitor = defineCommand({
  usage: "vigil monitor --config FILE [--once]",
  help: [
    "  --config FILE   the monitor's configuration (docs/monitor.md): inventory, database, feeds, vex, trustPolicy, audit",
    "  --once          judge the inventory, import the feeds once, and exit (1 when a finding is open and not suppressed)",
    "",
    "  Without --once it watches the feed folders (imports what changes, judging again only the deployed",
    "  components the changed advisories name), the VEX documents and the trust policy. Each change prints",
    "  one JSON line (opened and closed findings). With leaderElection, of several monitors on one",
    "  inventory only the holder of the Lease vigil-monitor writes and emits; one that loses it exits 3.",
  ].join("\n"),
  options: { config: { type: "string" }, once: { type: "boolean" } },
  async run(values) {
    const config = loadMonitorConfig(required(values, "config", this));
    const identity = process.env.POD_NAME ?? `${hostname()}-${randomBytes(4).toString("hex")}`;
    const own = config.leaderElection && (await connectMonitorLease(config.leaderElection, identity));
    try {
      const service = await MonitorService.open(config, {
        output: process.stdout,
        warn: (message) => process.stderr.write(`vigil monitor: ${message}\n`),
        ...(own && { lease: own.lease }),
      });
      const stop = () => service.stop();
      process.on("SIGINT", stop).on("SIGTERM", stop);
      try {
        // A monitor that lost the Lease stops (exit 3): restarted, it waits for the Lease and reloads what the leader wrote.
        return await service.run({ once: values.once === true });
      } finally {
        process.off("SIGINT", stop).off("SIGTERM", stop);
        await service.close();
      }
    } finally {
      own?.close();
    }
  },
});
