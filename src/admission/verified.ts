// What Vigil verified, per environment, as the webhook asks it: the image digests the agent deployed
// (the artifact gate verified and pinned each one) and the tags they were pinned from, read from the
// monitor's inventory (src/monitor/inventory.ts) by a worker thread (inventory-reader.ts) and kept in
// memory, so no admission request waits on a database, let alone a registry. Read again every `refreshMs`, and when a request names an image the
// copy does not hold: the agent records a deployment just as its controllers create ReplicaSets and Pods
// from it, so a miss waits for a read that started after it arrived. Reads are never concurrent and at
// least MISS_READ_GAP_MS apart: a flood of unverified images makes their refusals wait (and share one
// read), never the admission of verified ones.
import { Worker } from "node:worker_threads";
import { redactUrl } from "../audit/store.ts";
import { InputError, UnavailableError } from "../core/errors.ts";
import type { InventoryStore } from "../monitor/inventory.ts";
import { parseReference } from "../oci/reference.ts";

export interface EnvironmentImages {
  /** "registry/repository@digest" for every verified image. */
  pinned: Set<string>;
  /** "registry/repository:tag" → the digest it was verified as. */
  tags: Map<string, string>;
}

/** Reads of the inventory that misses ask for start at least this far apart. */
const MISS_READ_GAP_MS = 100;

/** registry/repository and the tag as written (if any) of an image reference; null when it does not parse. */
type Parsed = { repository: string; tag?: string } | null;

function parseImage(image: string): Parsed {
  try {
    const ref = parseReference(image);
    // A tag counts only when the reference names one (parseReference reads a bare name as ":latest").
    return { repository: `${ref.registry}/${ref.repository}`, ...(ref.tag !== undefined && namesTag(image) && { tag: ref.tag }) };
  } catch {
    return null;
  }
}

/**
 * Indexes the inventory's workloads by environment. An image the inventory cannot parse is left out
 * (never admitted). `parse` may cache: the same references come back at every read.
 */
function indexImages(
  workloads: readonly { environment: string; images: readonly { image: string; digest: string }[] }[],
  parse: (image: string) => Parsed = parseImage,
): Map<string, EnvironmentImages> {
  const out = new Map<string, EnvironmentImages>();
  for (const w of workloads) {
    const env = out.get(w.environment) ?? { pinned: new Set<string>(), tags: new Map<string, string>() };
    out.set(w.environment, env);
    for (const { image, digest } of w.images) {
      const ref = parse(image);
      if (!ref) continue;
      env.pinned.add(`${ref.repository}@${digest}`);
      if (ref.tag !== undefined) env.tags.set(`${ref.repository}:${ref.tag}`, digest);
    }
  }
  return out;
}

/** The inventory's state key under which the agent records what it verified for an environment's latest revision. */
function verifiedStateKey(environment: string): string {
  return `admission verified ${environment}`;
}

/** A verified image as the inventory holds it: the reference as the manifest wrote it, and its digest. */
export interface VerifiedImage {
  image: string;
  digest: string;
}

/**
 * The agent records the digests the gates verified for a revision before its dry run and apply, so the
 * webhook admits the agent's own writes from the inventory, as everyone else's, by what they run and
 * never by who sends them. It replaces the environment's previous record: what runs is in the workloads.
 */
export async function recordVerifiedImages(
  inventory: InventoryStore,
  environment: string,
  revision: string,
  images: readonly VerifiedImage[],
): Promise<void> {
  await inventory.setState(verifiedStateKey(environment), JSON.stringify({ revision, images }));
}

const DIGEST = /^sha(256:[0-9a-f]{64}|512:[0-9a-f]{128})$/;

/** The environments' records of recordVerifiedImages, as workloads to index; one malformed is left out (never admitted). */
export async function verifiedBeforeApply(
  inventory: InventoryStore,
  environments: readonly string[],
): Promise<{ environment: string; images: VerifiedImage[] }[]> {
  const out: { environment: string; images: VerifiedImage[] }[] = [];
  for (const environment of environments) {
    const value = await inventory.state(verifiedStateKey(environment));
    if (value === undefined) continue;
    let record: unknown;
    try {
      record = JSON.parse(value);
    } catch {
      continue;
    }
    const images = (record as { images?: unknown })?.images;
    if (!Array.isArray(images)) continue;
    out.push({
      environment,
      images: images.filter(
        (i): i is VerifiedImage => typeof i?.image === "string" && typeof i?.digest === "string" && DIGEST.test(i.digest),
      ),
    });
  }
  return out;
}

/** Whether the reference as written names a tag (parseReference reads a bare name as ":latest"). */
export function namesTag(image: string): boolean {
  const name = image.split("@")[0]!;
  return name.lastIndexOf(":") > name.lastIndexOf("/");
}

/** indexImages with the references of the last read kept parsed: the next read parses only new ones. */
export function cachedIndexer(): (workloads: Parameters<typeof indexImages>[0]) => Map<string, EnvironmentImages> {
  let last = new Map<string, Parsed>();
  return (workloads) => {
    const seen = new Map<string, Parsed>();
    const index = indexImages(workloads, (image) => {
      const p = last.has(image) ? last.get(image)! : parseImage(image);
      seen.set(image, p);
      return p;
    });
    last = seen;
    return index;
  };
}

/** A reader's failure; `badInput` when the inventory's location is wrong (exit 2), else it is unavailable. */
type Reply = { index: Map<string, EnvironmentImages> } | { unchanged: true } | { error: string; badInput?: boolean };

export class VerifiedImages {
  readonly #location: string;
  readonly #environments: readonly string[];
  #worker: Worker | undefined;
  #index = new Map<string, EnvironmentImages>();
  #readAt = 0;
  #readStartedAt = -Infinity;
  #reading: Promise<void> | undefined;
  #gap: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  private constructor(location: string, environments: readonly string[]) {
    this.#location = location;
    this.#environments = environments;
  }

  /** The inventory, as messages may name it (a database URL's password blanked). */
  get location(): string {
    return redactUrl(this.#location);
  }

  /**
   * Reads the inventory once (a failure here is the caller's: the webhook does not start without it):
   * what the environments run, and what the agent verified for their latest revisions.
   */
  static async open(
    location: string,
    environments: readonly string[],
    refreshMs: number,
    onError: (message: string) => void = () => {},
  ): Promise<VerifiedImages> {
    const v = new VerifiedImages(location, environments);
    try {
      await v.reread();
    } catch (e) {
      v.close();
      throw e;
    }
    // A failed refresh keeps the copy until it is too old to answer from (the decision refuses then).
    v.#timer = setInterval(
      () => void v.reread().catch((e) => onError(`reading the inventory ${location}: ${(e as Error).message}`)),
      refreshMs,
    );
    v.#timer.unref();
    return v;
  }

  /** The environment's verified images as last read; an environment with none has empty sets. */
  current(environment: string): EnvironmentImages {
    return this.#index.get(environment) ?? { pinned: new Set(), tags: new Map() };
  }

  /** After a miss: the copy from a read that started after the miss arrived. Throws when that read fails. */
  async afterMiss(environment: string): Promise<EnvironmentImages> {
    const arrived = performance.now();
    while (this.#readStartedAt < arrived) {
      if (this.#reading) {
        await this.#reading.catch(() => {});
        continue;
      }
      const wait = this.#readStartedAt + MISS_READ_GAP_MS - performance.now();
      if (wait > 0) {
        this.#gap ??= new Promise<void>((resolve) => setTimeout(resolve, wait)).finally(() => (this.#gap = undefined));
        await this.#gap;
        continue;
      }
      await this.reread();
    }
    return this.current(environment);
  }

  /** One read at a time; callers during a read share it. A failed read keeps the last copy and throws. */
  reread(): Promise<void> {
    this.#reading ??= (async () => {
      this.#readStartedAt = performance.now();
      try {
        const reply = await this.#ask();
        if ("error" in reply) throw reply.badInput ? new InputError(reply.error) : new UnavailableError(reply.error);
        if ("index" in reply) this.#index = reply.index;
        this.#readAt = Date.now();
      } finally {
        this.#reading = undefined;
      }
    })();
    return this.#reading;
  }

  /** One read by the worker (started again if it died). */
  #ask(): Promise<Reply> {
    const worker = (this.#worker ??= this.#startWorker());
    return new Promise<Reply>((resolve) => {
      const done = (reply: Reply) => {
        worker.off("message", done).off("error", failed).off("exit", exited);
        resolve(reply);
      };
      const failed = (e: Error) => done({ error: `the inventory reader failed: ${e.message}` });
      const exited = (code: number) => done({ error: `the inventory reader stopped (exit ${code})` });
      worker.on("message", done).on("error", failed).on("exit", exited);
      worker.postMessage("read");
    });
  }

  #startWorker(): Worker {
    const worker = new Worker(new URL("./inventory-reader.ts", import.meta.url), {
      workerData: { location: this.#location, environments: this.#environments },
    });
    worker.unref();
    worker.once("exit", () => {
      if (this.#worker === worker) this.#worker = undefined;
    });
    return worker;
  }

  /** How old the copy is: the webhook refuses to answer from one too old (the inventory unreachable). */
  ageMs(): number {
    return Date.now() - this.#readAt;
  }

  close(): void {
    clearInterval(this.#timer);
    this.#worker?.postMessage("close");
    this.#worker = undefined;
  }
}
