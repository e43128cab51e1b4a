import { InputError } from "../../core/errors.ts";
import { defaultDbLocation, importAdvisories, openStore } from "../../vuln/index.ts";
import { printableText } from "../../vuln/scan.ts";
import { clearProgress, progress } from "../output.ts";
import { defineCommand } from "../command.ts";

const dbHelp =
  "  --db DIR|URL    the database: a folder for the embedded store (default $VIGIL_DB, else ~/.cache/vigil/vulndb) or a postgres:// URL";

export const dbImport = defineCommand({
  usage: "vigil db import PATH... [--db DIR|URL] [--json]",
  help: [
    "  PATH...         OSV JSON files (one advisory or a list), folders of them, or OSV all.zip exports",
    dbHelp,
    "",
    "  Incremental: an advisory no newer (modified) than the stored one is left alone; withdrawn ones leave.",
    "  Malformed advisories are skipped and listed with their ids. The import is one transaction.",
  ].join("\n"),
  options: { db: { type: "string" } },
  positionals: true,
  async run(values, positionals) {
    if (positionals.length === 0) throw new InputError(`give at least one file, folder or zip of OSV advisories\nusage: ${this.usage}`);
    const location = values.db ?? defaultDbLocation();
    const store = await openStore(location, { create: true });
    const started = performance.now();
    try {
      const result = await importAdvisories(store, positionals, progress("importing advisories: files read"));
      clearProgress();
      const info = await store.info();
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      if (values.json) {
        process.stdout.write(JSON.stringify({ database: info, ...result, seconds: Number(seconds) }, null, 2) + "\n");
      } else {
        const lines = [
          `database: ${info.location}`,
          `read ${result.files} files in ${seconds}s: ${result.added} added, ${result.updated} updated, ${result.unchanged} unchanged, ${result.withdrawn} withdrawn, ${result.malformed.length} malformed (skipped)`,
          ...result.malformed.slice(0, 50).map((m) => `  skipped ${m.id ?? "(no id)"} from ${m.source}: ${m.reason}`),
          ...(result.malformed.length > 50 ? [`  … and ${result.malformed.length - 50} more (--json lists them all)`] : []),
          `now holds ${info.advisories} advisories: ${Object.entries(info.ecosystems)
            .map(([e, n]) => `${e} ${n}`)
            .join(", ")}`,
        ];
        // Entry names and parse errors quote what the advisory files hold: no control characters to the terminal.
        process.stdout.write(lines.map(printableText).join("\n") + "\n");
      }
      return 0;
    } finally {
      clearProgress();
      await store.close();
    }
  },
});

export const dbInfo = defineCommand({
  usage: "vigil db info [--db DIR|URL] [--json]",
  help: dbHelp,
  options: { db: { type: "string" } },
  async run(values) {
    const store = await openStore(values.db ?? defaultDbLocation());
    try {
      const info = await store.info();
      if (values.json) process.stdout.write(JSON.stringify(info, null, 2) + "\n");
      else {
        process.stdout.write(
          [
            `database: ${info.location}`,
            `schema: ${info.schema}`,
            `advisories: ${info.advisories}`,
            `last import: ${info.lastImport ?? "never"}`,
            ...Object.entries(info.ecosystems).map(([e, n]) => `  ${e.padEnd(14)} ${n}`),
          ].join("\n") + "\n",
        );
      }
      return 0;
    } finally {
      await store.close();
    }
  },
});
