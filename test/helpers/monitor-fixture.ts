// Monitor fixtures: deployments as the agent applies them (workloads with images pinned by digest),
// CycloneDX SBOMs for their digests, OSV advisories written as files, and a monitor on an embedded
// inventory and advisory database in a temporary folder.
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openInventory, type InventoryStore } from "../../src/monitor/inventory.ts";
import { Monitor, type Sink } from "../../src/monitor/monitor.ts";
import type { SourcedObject } from "../../src/manifest/manifests.ts";
import { openStore, type AdvisoryStore } from "../../src/vuln/index.ts";
import type { VexStatement } from "../../src/vuln/vex.ts";

export const digestOf = (label: string) => `sha256:${createHash("sha256").update(label).digest("hex")}`;

export function cyclonedx(purls: string[]): unknown {
  return {
    bomFormat: "CycloneDX",
    specVersion: "1.6",
    version: 1,
    components: purls.map((purl, i) => ({ type: "library", "bom-ref": `c${i}`, name: purl, purl })),
  };
}

/** A Deployment per entry, each running its images (pinned by the digest their label hashes to). */
export function workloads(namespace: string, spec: Record<string, string[]>): SourcedObject[] {
  return Object.entries(spec).map(([name, images], i) => ({
    object: {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace },
      spec: {
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            containers: images.map((label, j) => ({ name: `c${j}`, image: `registry.example.com/team/${label}@${digestOf(label)}` })),
          },
        },
      },
    },
    file: `envs/${namespace}/${name}.yaml`,
    line: 1 + i,
  }));
}

/** The SBOMs of image labels, as the agent's sbomFor gives them. */
export function sboms(byLabel: Record<string, string[]>): (image: { image: string; digest: string }) => Promise<unknown> {
  const byDigest = new Map(Object.entries(byLabel).map(([label, purls]) => [digestOf(label), cyclonedx(purls)]));
  return async (image) => byDigest.get(image.digest);
}

export interface AdvisoryInput {
  id: string;
  modified: string;
  ecosystem: string;
  name: string;
  introduced?: string;
  fixed?: string;
  severity?: string;
  aliases?: string[];
  withdrawn?: string;
}

export function osv(a: AdvisoryInput): unknown {
  return {
    schema_version: "1.6.0",
    id: a.id,
    modified: a.modified,
    ...(a.aliases && { aliases: a.aliases }),
    ...(a.withdrawn && { withdrawn: a.withdrawn }),
    summary: `${a.name} is vulnerable`,
    ...(a.severity && { severity: [{ type: "CVSS_V3", score: a.severity }] }),
    affected: [
      {
        package: { ecosystem: a.ecosystem, name: a.name },
        ranges: [{ type: "SEMVER", events: [{ introduced: a.introduced ?? "0" }, ...(a.fixed ? [{ fixed: a.fixed }] : [])] }],
      },
    ],
  };
}

/** A feed folder holding these advisories, one JSON file each. */
export function feed(dir: string, advisories: unknown[]): string {
  mkdirSync(dir, { recursive: true });
  for (const a of advisories) writeFileSync(join(dir, `${(a as { id: string }).id}.json`), JSON.stringify(a));
  return dir;
}

export interface Fixture {
  monitor: Monitor;
  inventory: InventoryStore;
  advisories: AdvisoryStore;
  close(): Promise<void>;
}

export const FIXED_TIME = new Date("2026-12-01T10:00:00Z");

export async function openMonitor(
  dir: string,
  options: {
    sinks?: Sink[];
    vex?: VexStatement[];
    now?: () => Date;
    inventory?: string;
    database?: string;
    inventoryStore?: InventoryStore;
  } = {},
): Promise<Fixture> {
  const inventory = options.inventoryStore ?? (await openInventory(options.inventory ?? join(dir, "inventory")));
  const advisories = await openStore(options.database ?? join(dir, "vulndb"), { create: true });
  const monitor = await Monitor.open({
    inventory,
    advisories,
    now: options.now ?? (() => FIXED_TIME),
    ...(options.sinks && { sinks: options.sinks }),
    ...(options.vex && { vex: options.vex }),
  });
  return {
    monitor,
    inventory,
    advisories,
    async close() {
      await inventory.close();
      await advisories.close();
    },
  };
}
