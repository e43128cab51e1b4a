// The advisory store as an import sees it, noting what the import changes: the lookup keys of every
// advisory it puts (new or changed) and the ids it puts or removes. Reads pass through unchanged, so
// the import is `vigil db import`'s own code; the monitor only learns what to judge again.
import { lookupKey, packageKeys, type AdvisoryStore, type ImportTransaction } from "../vuln/store.ts";
import type { AdvisoryChanges } from "./evaluator.ts";

export function trackChanges(store: AdvisoryStore): { store: AdvisoryStore; changes: AdvisoryChanges } {
  const changes: AdvisoryChanges = { keys: new Set(), ids: new Set() };
  const tracked: AdvisoryStore = {
    location: store.location,
    modifiedIndex: () => store.modifiedIndex(),
    lookup: (keys) => store.lookup(keys),
    info: () => store.info(),
    close: () => store.close(),
    async begin(): Promise<ImportTransaction> {
      const tx = await store.begin();
      const pending: AdvisoryChanges = { keys: new Set(), ids: new Set() };
      return {
        async put(entry) {
          await tx.put(entry);
          pending.ids.add(entry.advisory.id);
          for (const k of packageKeys(entry.advisory)) pending.keys.add(lookupKey(k.base, k.name));
        },
        async remove(id) {
          await tx.remove(id);
          pending.ids.add(id);
        },
        async commit() {
          await tx.commit();
          // Only what was committed counts: a rolled-back import changed nothing.
          for (const k of pending.keys) changes.keys.add(k);
          for (const id of pending.ids) changes.ids.add(id);
        },
        rollback: () => tx.rollback(),
      };
    },
  };
  return { store: tracked, changes };
}
