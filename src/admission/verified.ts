// What Vigil verified, per environment, as the webhook asks it: the image digests the agent deployed
// (the artifact gate verified and pinned each one) and the tags they were pinned from, read from the
// monitor's inventory (src/monitor/inventory.ts) and kept in memory, so no admission request waits on a
// database, let alone a registry. Read again every `refreshMs`, and when a request names an image the
// copy does not hold: the agent records a deployment just as its controllers create ReplicaSets and Pods
// from it. Reads are never concurrent: requests that miss meanwhile share the next one.
import type { InventoryStore } from "../monitor/inventory.ts";
import { parseReference } from "../oci/reference.ts";

/** A verified image, as the inventory names it: where it was pulled from and the digest it is pinned to. */
export interface VerifiedImage {
  /** registry/repository, normalised ("docker.io/library/nginx"). */
  repository: string;
  digest: string;
  /** The tag the manifest named beside the digest, if any. */
  tag?: string;
}

export interface EnvironmentImages {
  /** "registry/repository@digest" for every verified image. */
  pinned: Set<string>;
  /** "registry/repository:tag" → the digest it was verified as. */
  tags: Map<string, string>;
}

/** Indexes the inventory's workloads by environment. An image the inventory cannot parse is left out (never admitted). */
export function indexImages(workloads: readonly { environment: string; images: readonly { image: string; digest: string }[] }[]): Map<string, EnvironmentImages> {
  const out = new Map<string, EnvironmentImages>();
  for (const w of workloads) {
    const env = out.get(w.environment) ?? { pinned: new Set<string>(), tags: new Map<string, string>() };
    out.set(w.environment, env);
    for (const { image, digest } of w.images) {
      let ref;
      try {
        ref = parseReference(image);
      } catch {
        continue;
      }
      const repository = `${ref.registry}/${ref.repository}`;
      env.pinned.add(`${repository}@${digest}`);
      // A tag counts only when the manifest wrote it (parseReference adds "latest" to a bare name).
      if (ref.tag !== undefined && namesTag(image)) env.tags.set(`${repository}:${ref.tag}`, digest);
    }
  }
  return out;
}

/** Whether the reference as written names a tag (parseReference reads a bare name as ":latest"). */
export function namesTag(image: string): boolean {
  const name = image.split("@")[0]!;
  return name.lastIndexOf(":") > name.lastIndexOf("/");
}

export class VerifiedImages {
  readonly #inventory: InventoryStore;
  readonly #refreshMs: number;
  #index = new Map<string, EnvironmentImages>();
  #readAt = 0;
  #readStartedAt = 0;
  #reading: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  private constructor(inventory: InventoryStore, refreshMs: number) {
    this.#inventory = inventory;
    this.#refreshMs = refreshMs;
  }

  /** Reads the inventory once (a failure here is the caller's: the webhook does not start without it). */
  static async open(inventory: InventoryStore, refreshMs: number): Promise<VerifiedImages> {
    const v = new VerifiedImages(inventory, refreshMs);
    await v.reread();
    v.#timer = setInterval(() => void v.reread().catch(() => {}), refreshMs);
    v.#timer.unref();
    return v;
  }

  /** The environment's verified images as last read; an environment with none has empty sets. */
  current(environment: string): EnvironmentImages {
    return this.#index.get(environment) ?? { pinned: new Set(), tags: new Map() };
  }

  /** After a miss: the copy from a read that started after the miss (one read serves every miss that waits for it). */
  async afterMiss(environment: string): Promise<EnvironmentImages> {
    const arrived = performance.now();
    while (this.#readStartedAt < arrived) {
      if (this.#reading) await this.#reading.catch(() => {});
      else await this.reread();
    }
    return this.current(environment);
  }

  /** One read at a time; callers during a read wait for it. A failed read keeps the last copy and throws. */
  reread(): Promise<void> {
    this.#reading ??= (async () => {
      this.#readStartedAt = performance.now();
      try {
        this.#index = indexImages(await this.#inventory.workloads());
        this.#readAt = Date.now();
      } finally {
        this.#reading = undefined;
      }
    })();
    return this.#reading;
  }

  /** How old the copy is, for the readiness answer and messages. */
  ageMs(): number {
    return Date.now() - this.#readAt;
  }

  get refreshMs(): number {
    return this.#refreshMs;
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
