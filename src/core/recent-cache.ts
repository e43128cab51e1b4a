/**
 * A bounded cache of what was used recently, in two generations: entries are added to the young one,
 * and when it holds `limit / 2` the young one becomes the old one and the old one is dropped. A hit in
 * the old generation moves the entry to the young one. So an entry used within the last `limit / 2`
 * additions is always held, at most `limit` entries are, and a hit costs one map lookup with nothing
 * moved: the walk's caches are read tens of times a commit, where a strict LRU's reordering (a delete
 * and an insert on every hit) showed in the profile.
 */
export class RecentCache<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private readonly generation: number;
  constructor(limit: number) {
    this.generation = Math.max(1, Math.floor(limit / 2));
  }

  get(key: K): V | undefined {
    const v = this.young.get(key);
    if (v !== undefined) return v;
    const aged = this.old.get(key);
    if (aged !== undefined) this.set(key, aged);
    return aged;
  }

  set(key: K, value: V): void {
    this.young.set(key, value);
    if (this.young.size >= this.generation) {
      this.old = this.young;
      this.young = new Map();
    }
  }
}
