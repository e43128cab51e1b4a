// Leader election on a coordination.k8s.io/v1 Lease, so that of several replicas exactly one reconciles
// and the others wait to take over. The Lease records who holds it and when they last renewed it; a
// holder that stops renewing for leaseDurationSeconds has lost it. Every write carries the
// resourceVersion that was read, so of two replicas that see the Lease free at once, the API server
// lets one write succeed and answers the other 409 Conflict: that one lost.
//
// Expiry is judged on this replica's own clock, from when it last saw the Lease change (as client-go
// does), never by comparing renewTime with local time: clocks of two nodes may differ by more than a
// lease duration. The holder gives up a bit earlier (renewDeadline < leaseDuration), so it stops acting
// before anyone else may start.
import type { Cluster } from "../cluster/index.ts";
import { describeAnswer } from "../cluster/client.ts";
import { ExitCode, VigilError } from "../core/errors.ts";

export const LEASE_NAME = "vigil-agent";

/** A write was about to happen without the Lease: nothing was written (exit 3: the Lease is a dependency). */
export class LeaseLost extends VigilError {
  constructor(message: string) {
    super(message, ExitCode.unavailable);
  }
}

export interface LeaderElectionOptions {
  cluster: Cluster;
  namespace: string;
  name?: string;
  /** Who this replica is in the Lease: the pod's name in a cluster. */
  identity: string;
  leaseDurationSeconds?: number;
  /** Called when this replica starts or stops leading. */
  onChange?(leading: boolean): void;
  /** Errors while talking to the API server (they never stop the elector; leadership lapses instead). */
  onError?(error: unknown): void;
}

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
const microTime = (d = new Date()) => d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");

export class LeaderElector {
  readonly identity: string;
  private readonly options: Required<Pick<LeaderElectionOptions, "leaseDurationSeconds" | "name">> & LeaderElectionOptions;
  private readonly path: string;
  private isLeading = false;
  private stopped = false;
  /** The Lease's spec and resourceVersion as last seen, and when (local monotonic clock). */
  private observed: { key: string; at: number } | undefined;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;
  private wakeTimer: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private waiters: (() => void)[] = [];

  constructor(options: LeaderElectionOptions) {
    this.options = { name: LEASE_NAME, leaseDurationSeconds: 15, ...options };
    this.identity = options.identity;
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(options.namespace)}/leases`;
  }

  /**
   * Whether this replica may act now: it holds the Lease and renewed it within the renew deadline, on
   * its own clock. A replica that was paused (a stopped process, a frozen VM) past the deadline is not
   * leading when it resumes, even before its next renewal attempt notices: so it starts nothing.
   */
  get leading(): boolean {
    return this.isLeading && performance.now() - this.lastRenew < this.renewDeadlineMs;
  }

  /** A fence for writes: throws unless the Lease is still certainly this replica's. */
  assertLeading(): void {
    if (!this.leading)
      throw new LeaseLost(
        `this replica (${this.identity}) no longer certainly holds the Lease ${this.options.namespace}/${this.options.name}: not writing`,
      );
  }

  private get durationMs(): number {
    return this.options.leaseDurationSeconds * 1000;
  }
  /** How often to try: a third of the lease, so a holder renews at least twice before its deadline. */
  private get retryMs(): number {
    return Math.max(200, this.durationMs / 3);
  }
  /** A holder that could not renew for this long stops acting, before the lease runs out for others. */
  private get renewDeadlineMs(): number {
    return (this.durationMs * 2) / 3;
  }

  /** Starts trying to acquire, then renewing, until stop(). */
  start(): void {
    if (this.running) return;
    this.running = this.run();
  }

  /** Resolves when this replica leads, or when the elector is stopped. */
  waitForLeadership(): Promise<void> {
    if (this.leading || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Stops; a leader steps down by clearing the holder, so another replica takes over at once instead
   * of after the lease runs out. With release false the Lease is left as it is (a crash, in tests).
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wakeTimer?.();
    await this.running;
    const wasLeading = this.isLeading;
    this.setLeading(false);
    for (const w of this.waiters.splice(0)) w();
    if (wasLeading && options.release !== false) await this.release().catch((e) => this.options.onError?.(e));
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const started = performance.now();
        const leads = await this.tryAcquireOrRenew();
        // The deadline counts from before the request: the write may have landed at its start.
        if (leads) this.lastRenew = started;
        // Set even when stop() came meanwhile: a Lease just taken is then released, not left to expire.
        this.setLeading(leads);
      } catch (e) {
        this.options.onError?.(e);
        // Could not reach the API server: keep leading only until the renew deadline.
        if (this.isLeading && performance.now() - this.lastRenew >= this.renewDeadlineMs) this.setLeading(false);
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        this.wakeTimer = resolve;
        this.timer = setTimeout(resolve, this.retryMs);
      });
    }
  }

  private setLeading(leading: boolean): void {
    // A renewal after a pause wakes those who waited for the deadline to be met again.
    if (leading && this.leading) for (const w of this.waiters.splice(0)) w();
    if (leading === this.isLeading) return;
    this.isLeading = leading;
    if (leading) for (const w of this.waiters.splice(0)) w();
    this.options.onChange?.(leading);
  }

  /** One round: true when this replica holds the Lease afterwards, false when another does. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { cluster, name } = this.options;
    const now = microTime();
    const got = await cluster.call({ verb: "get", method: "GET", path: `${this.path}/${name}` });
    if (got.status === 404) {
      const created = await cluster.call({
        verb: "create",
        method: "POST",
        path: this.path,
        body: {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name, namespace: this.options.namespace },
          spec: this.spec({ acquireTime: now, renewTime: now, leaseTransitions: 0 }),
        },
      });
      if (created.status === 201) return true;
      if (created.status === 409) return false;
      throw new Error(`creating Lease ${this.options.namespace}/${name}: ${describeAnswer(created)}`);
    }
    if (got.status !== 200) throw new Error(`reading Lease ${this.options.namespace}/${name}: ${describeAnswer(got)}`);
    const lease = got.body;
    const spec: LeaseSpec = lease.spec ?? {};
    const key = JSON.stringify([lease.metadata?.resourceVersion, spec.holderIdentity, spec.renewTime]);
    if (this.observed?.key !== key) this.observed = { key, at: performance.now() };
    const holder = spec.holderIdentity ?? "";
    const ours = holder === this.identity;
    const heldFor = (spec.leaseDurationSeconds ?? this.options.leaseDurationSeconds) * 1000;
    const expired = performance.now() - this.observed.at > heldFor;
    if (!ours && holder !== "" && !expired) return false;
    const transitions = spec.leaseTransitions ?? 0;
    const next = ours
      ? this.spec({ acquireTime: spec.acquireTime ?? now, renewTime: now, leaseTransitions: transitions })
      : this.spec({ acquireTime: now, renewTime: now, leaseTransitions: transitions + 1 });
    // The resourceVersion read above: if anyone wrote the Lease since, the server refuses this write.
    const put = await cluster.call({ verb: "update", method: "PUT", path: `${this.path}/${name}`, body: { ...lease, spec: next } });
    if (put.status === 200) {
      this.observed = {
        key: JSON.stringify([put.body?.metadata?.resourceVersion, next.holderIdentity, next.renewTime]),
        at: performance.now(),
      };
      return true;
    }
    if (put.status === 409) return false;
    throw new Error(`updating Lease ${this.options.namespace}/${name}: ${describeAnswer(put)}`);
  }

  private spec(times: Pick<LeaseSpec, "acquireTime" | "renewTime" | "leaseTransitions">): LeaseSpec {
    return { holderIdentity: this.identity, leaseDurationSeconds: this.options.leaseDurationSeconds, ...times };
  }

  /** Clears the holder if it is still this replica, so the next replica need not wait for expiry. */
  private async release(): Promise<void> {
    const { cluster, name } = this.options;
    const got = await cluster.call({ verb: "get", method: "GET", path: `${this.path}/${name}` });
    if (got.status !== 200 || got.body?.spec?.holderIdentity !== this.identity) return;
    const spec: LeaseSpec = { ...got.body.spec, holderIdentity: null, acquireTime: null, renewTime: null, leaseDurationSeconds: 1 };
    const put = await cluster.call({ verb: "update", method: "PUT", path: `${this.path}/${name}`, body: { ...got.body, spec } });
    if (put.status !== 200 && put.status !== 409)
      throw new Error(`releasing Lease ${this.options.namespace}/${name}: ${describeAnswer(put)}`);
  }
}
