import { watch } from "node:fs";
import { openAuditLog } from "../../audit/index.ts";
import { loadMonitorConfig } from "../../monitor/config.ts";
import { openInventory } from "../../monitor/inventory.ts";
import { Monitor, type Sink } from "../../monitor/monitor.ts";
import { auditSink, jsonLinesSink } from "../../monitor/sinks.ts";
import { loadVex, openStore } from "../../vuln/index.ts";
import { required, type Command } from "../command.ts";

/** Changes to a feed folder come in bursts (a sync writes many files): wait this long after the last. */
const SETTLE_MS = 200;

export const monitor: Command = {
  summary: "Continuous security: keep what is deployed judged against advisory feeds and VEX, and record findings.",
  usage: "vigil monitor --config FILE [--once]",
  help: [
    "  --config FILE   the monitor's configuration (docs/monitor.md): inventory, database, feeds, vex, audit",
    "  --once          judge the inventory, import the feeds once, and exit (1 when a finding is open and not suppressed)",
    "",
    "  Without --once it watches the feed folders and imports what changes, judging again only the deployed",
    "  components the changed advisories name. Each change prints one JSON line (opened and closed findings).",
  ].join("\n"),
  options: { config: { type: "string" }, once: { type: "boolean" } },
  async run(values) {
    const config = loadMonitorConfig(required(values, "config", this));
    const inventory = openInventory(config.inventory);
    const advisories = await openStore(config.database, { create: true });
    const log = config.audit ? await openAuditLog(config.audit.log, { signingKeyFile: config.audit.signingKeyFile }) : undefined;
    const sinks: Sink[] = [jsonLinesSink(process.stdout), ...(log ? [auditSink(log)] : [])];
    const vex = config.vex.flatMap((file, i) => loadVex(file, i * 1_000_000));
    const mon = new Monitor({ inventory, advisories, vex, sinks });
    const close = async () => {
      inventory.close();
      await advisories.close();
      await log?.close();
    };
    try {
      await mon.start();
      if (config.feeds.length > 0) await mon.importAdvisories(config.feeds);
      if (values.once) return mon.openFindings().some((f) => !f.suppressed) ? 1 : 0;
      await watchFeeds(config.feeds, (paths) => mon.importAdvisories(paths));
      return 0;
    } finally {
      await close();
    }
  },
};

/** Imports a feed folder again after it changes; runs until SIGINT or SIGTERM. */
function watchFeeds(feeds: string[], reimport: (paths: string[]) => Promise<unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    const timers = new Map<string, NodeJS.Timeout>();
    const watchers = feeds.map((feed) =>
      watch(feed, { recursive: true }, () => {
        clearTimeout(timers.get(feed));
        timers.set(feed, setTimeout(() => reimport([feed]).catch(stop), SETTLE_MS));
      }),
    );
    function stop(error?: unknown) {
      for (const w of watchers) w.close();
      for (const t of timers.values()) clearTimeout(t);
      process.off("SIGINT", stop).off("SIGTERM", stop);
      if (error instanceof Error) reject(error);
      else resolve();
    }
    process.on("SIGINT", stop).on("SIGTERM", stop);
  });
}
