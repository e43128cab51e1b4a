// Re-evaluation of what is deployed. The index maps (ecosystem base name, package name) — the key the
// advisory store is looked up by — to the deployed components of that package, and each component to
// the digests and workloads that run it. A component's findings depend only on the advisories stored
// under its key, so after an import only the components under the changed advisories' keys (and those
// whose findings name a changed or withdrawn advisory, in case its packages moved) are judged again,
// by the same scan a full rescan runs: the incremental result equals the full one by construction,
// and the tests check that it does.
import { lookupKey, type AdvisoryStore } from "../vuln/store.ts";
import { mapPurl, type Component } from "../vuln/match.ts";
import { scanComponents, type Finding } from "../vuln/scan.ts";
import { baseEcosystem } from "../vuln/versions/index.ts";
import type { VexStatement } from "../vuln/vex.ts";
import { placeFinding, type MonitorFinding, type Placement } from "./findings.ts";

/** What changed in the advisory store: the lookup keys of stored advisories, and ids put or withdrawn. */
export interface AdvisoryChanges {
  keys: Set<string>;
  ids: Set<string>;
}

export class Evaluator {
  readonly #store: AdvisoryStore;
  #vex: VexStatement[];
  /** lookup key → purls deployed under it. */
  readonly #byKey = new Map<string, Set<string>>();
  /** lookup key → its parts, as the store is looked up by them. */
  readonly #keyParts = new Map<string, { base: string; name: string }>();
  readonly #components = new Map<string, Component>();
  /** purl → digests that contain it; digest → where it runs. */
  readonly #digestsOf = new Map<string, Set<string>>();
  readonly #placements = new Map<string, Placement[]>();
  readonly #purlsOf = new Map<string, string[]>();
  /** The current findings per purl, and per advisory id the purls whose findings name it. */
  readonly #findings = new Map<string, Finding[]>();
  readonly #byAdvisory = new Map<string, Set<string>>();

  constructor(store: AdvisoryStore, vex: VexStatement[] = []) {
    this.#store = store;
    this.#vex = vex;
  }

  /** Adds a digest's components and one place it runs; returns the purls new to the index (not judged yet). */
  add(place: Placement, components: Iterable<Component>): string[] {
    const known = this.#placements.get(place.digest);
    if (known) {
      known.push(place);
      return [];
    }
    this.#placements.set(place.digest, [place]);
    const fresh: string[] = [];
    const purls: string[] = [];
    for (const c of components) {
      let digests = this.#digestsOf.get(c.purl);
      if (!digests) {
        digests = new Set();
        this.#digestsOf.set(c.purl, digests);
        this.#components.set(c.purl, c);
        const parts = keyOf(c);
        if (parts !== undefined) {
          const key = lookupKey(parts.base, parts.name);
          addTo(this.#byKey, key, c.purl);
          this.#keyParts.set(key, parts);
        }
        fresh.push(c.purl);
      }
      digests.add(place.digest);
      purls.push(c.purl);
    }
    this.#purlsOf.set(place.digest, purls);
    return fresh;
  }

  /** Forgets where an environment runs things; components no longer run anywhere leave the index. */
  removeEnvironment(environment: string): void {
    for (const [digest, places] of this.#placements) {
      const kept = places.filter((p) => p.environment !== environment);
      if (kept.length > 0) {
        this.#placements.set(digest, kept);
        continue;
      }
      this.#placements.delete(digest);
      for (const purl of this.#purlsOf.get(digest) ?? []) {
        const digests = this.#digestsOf.get(purl);
        digests?.delete(digest);
        if (digests?.size !== 0) continue;
        this.#forget(purl);
        this.#digestsOf.delete(purl);
        const c = this.#components.get(purl)!;
        this.#components.delete(purl);
        const parts = keyOf(c);
        if (parts !== undefined) this.#byKey.get(lookupKey(parts.base, parts.name))?.delete(purl);
      }
      this.#purlsOf.delete(digest);
    }
  }

  /** Judges these purls (new to the index). */
  async judgeNew(purls: string[]): Promise<void> {
    await this.#judge(purls.map((p) => this.#components.get(p)!));
  }

  /** The findings of every component an environment runs, placed there. */
  placedIn(environment: string, since: string): MonitorFinding[] {
    const purls = new Set<string>();
    for (const [digest, places] of this.#placements)
      if (places.some((p) => p.environment === environment)) for (const p of this.#purlsOf.get(digest) ?? []) purls.add(p);
    return this.placed(since, purls).filter((f) => f.environment === environment);
  }

  get componentCount(): number {
    return this.#components.size;
  }

  /** Judges every deployed component: the full rescan. */
  async full(): Promise<void> {
    this.#findings.clear();
    this.#byAdvisory.clear();
    await this.#judge([...this.#components.values()]);
  }

  /** Judges again only the components the changes can touch; returns the purls judged. */
  async incremental(changes: AdvisoryChanges): Promise<string[]> {
    const purls = new Set<string>();
    for (const key of changes.keys) for (const p of this.#byKey.get(key) ?? []) purls.add(p);
    for (const id of changes.ids) for (const p of this.#byAdvisory.get(id) ?? []) purls.add(p);
    for (const p of purls) this.#forget(p);
    await this.#judge([...purls].map((p) => this.#components.get(p)!));
    return [...purls];
  }

  /**
   * The lookup keys of deployed components under which the store now holds one of these advisory ids:
   * for advisories another process imported, whose packages this monitor did not see go in. One lookup
   * of the deployed keys (no matching), so an import elsewhere costs a read, never a rescan.
   */
  async keysNaming(ids: ReadonlySet<string>): Promise<Set<string>> {
    const keys = new Set<string>();
    if (ids.size === 0) return keys;
    const deployed = [...this.#byKey].filter(([, purls]) => purls.size > 0).map(([key]) => this.#keyParts.get(key)!);
    for (const [key, entries] of await this.#store.lookup(deployed)) if (entries.some((e) => ids.has(e.advisory.id))) keys.add(key);
    return keys;
  }

  /** VEX documents added or removed: every finding a statement, old or new, names is judged again. */
  async setVex(vex: VexStatement[]): Promise<string[]> {
    const ids = new Set([...this.#vex, ...vex].flatMap((s) => s.vulnerabilities));
    this.#vex = vex;
    return this.incremental({ keys: new Set(), ids });
  }

  /** The findings of these purls (all purls when none are given), placed where they run. */
  placed(since: string, purls?: Iterable<string>): MonitorFinding[] {
    const out: MonitorFinding[] = [];
    for (const purl of purls ?? this.#findings.keys()) {
      const found = this.#findings.get(purl);
      if (!found) continue;
      for (const digest of this.#digestsOf.get(purl) ?? []) {
        for (const place of this.#placements.get(digest) ?? []) for (const f of found) out.push(placeFinding(f, place, since));
      }
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async #judge(components: Component[]): Promise<void> {
    if (components.length === 0) return;
    const result = await scanComponents(this.#store, components, this.#vex);
    for (const f of result.findings) {
      const list = this.#findings.get(f.purl);
      if (list) list.push(f);
      else this.#findings.set(f.purl, [f]);
      for (const id of new Set([...f.advisories, ...f.ids])) addTo(this.#byAdvisory, id, f.purl);
    }
  }

  #forget(purl: string): void {
    for (const f of this.#findings.get(purl) ?? []) for (const id of [...f.advisories, ...f.ids]) this.#byAdvisory.get(id)?.delete(purl);
    this.#findings.delete(purl);
  }
}

/** The store's lookup key parts for a component, as the scan computes them; none when the purl names no package. */
function keyOf(c: Component): { base: string; name: string } | undefined {
  const m = mapPurl(c.purl, c.source);
  return m.ecosystem && m.name ? { base: baseEcosystem(m.ecosystem), name: m.name } : undefined;
}

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}
