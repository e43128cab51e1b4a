// The advisory store as an import sees it, noting what the import changes: the lookup keys of every
// advisory it puts (new or changed), the ids it puts (with their new `modified`) or removes, and which
// import the store was at when the transaction began. Reads pass through unchanged, so the import is
// `vigil db import`'s own code; the monitor only learns what to judge again, and whether another
// process imported something since it last looked.
import { lookupKey, packageKeys, type AdvisoryStore, type ImportTransaction } from "../vuln/store.ts";
import type { AdvisoryChanges } from "./evaluator.ts";

/** What a tracked import committed, beyond the keys and ids: the new `modified` per id (undefined: removed). */
export interface TrackedImport extends AdvisoryChanges {
  modified: Map<string, string | undefined>;
  /** The store's import generation read inside the import's transaction, before anything was written. */
  generationBefore?: string;
}

export function trackChanges(store: AdvisoryStore): { store: AdvisoryStore; changes: TrackedImport } {
  const changes: TrackedImport = { keys: new Set(), ids: new Set(), modified: new Map() };
  const tracked: AdvisoryStore = {
    location: store.location,
    modifiedIndex: () => store.modifiedIndex(),
    lookup: (keys) => store.lookup(keys),
    info: () => store.info(),
    close: () => store.close(),
    generation: store.generation && (() => store.generation!()),
    async begin(): Promise<ImportTransaction> {
      const tx = await store.begin();
      const generationBefore = await importGeneration(store);
      const pending: TrackedImport = { keys: new Set(), ids: new Set(), modified: new Map() };
      return {
        async put(entry) {
          await tx.put(entry);
          pending.ids.add(entry.advisory.id);
          pending.modified.set(entry.advisory.id, entry.advisory.modified);
          for (const k of packageKeys(entry.advisory)) pending.keys.add(lookupKey(k.base, k.name));
        },
        async remove(id) {
          await tx.remove(id);
          pending.ids.add(id);
          pending.modified.set(id, undefined);
        },
        async commit() {
          await tx.commit();
          // Only what was committed counts: a rolled-back import changed nothing.
          for (const k of pending.keys) changes.keys.add(k);
          for (const id of pending.ids) changes.ids.add(id);
          for (const [id, modified] of pending.modified) changes.modified.set(id, modified);
          changes.generationBefore ??= generationBefore;
        },
        rollback: () => tx.rollback(),
      };
    },
  };
  return { store: tracked, changes };
}

/**
 * Which import the store is at: its generation (a new id every committed import), else the last
 * import's time for a store without one. Cheap: one row, where info() counts the whole database.
 */
export async function importGeneration(store: AdvisoryStore): Promise<string | undefined> {
  if (store.generation) return (await store.generation()).generation;
  return (await store.info()).lastImport;
}
