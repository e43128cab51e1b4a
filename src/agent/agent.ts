// The agent: loads its configuration and trust, then reconciles every environment once (--once) or on
// its interval until stopped. Environments are independent: one that is blocked or unreachable does
// not hold up another.
import { loadTrustPolicyFile } from "../core/trust-policy.ts";
import { RegistryClient, type HostOptions } from "../oci/index.ts";
import { loadTrustedRootFile } from "../sigstore/trusted-root.ts";
import { loadAgentConfig, type AgentConfig } from "./config.ts";
import { connectEnvironments, type EnvironmentClusters } from "./deploy.ts";
import { reconcileEnvironment, type ReconcileResult } from "./reconcile.ts";

export interface AgentOptions {
  configFile: string;
  dryRun?: boolean;
  /** Called with each reconcile's result as it ends. */
  onResult(result: ReconcileResult): void;
}

export interface RunningAgent {
  config: AgentConfig;
  /** Reconciles every environment once, concurrently; the results in configuration order. */
  reconcileAll(): Promise<ReconcileResult[]>;
  /** Reconciles on each environment's interval until stop(). */
  loop(): Promise<void>;
  stop(): Promise<void>;
}

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const config = loadAgentConfig(options.configFile);
  const trust = await loadTrustPolicyFile(config.doc.trustPolicy);
  const trustedRoot = config.doc.trustedRoot ? loadTrustedRootFile(config.doc.trustedRoot) : undefined;
  const hosts: Record<string, HostOptions> = Object.fromEntries(config.doc.insecureRegistries.map((h) => [h, { scheme: "http" }]));
  const registry = new RegistryClient({ hosts });
  const clusters: EnvironmentClusters = await connectEnvironments(config);
  const shared = { config, trust, ...(trustedRoot && { trustedRoot }), registry, clusters, ...(options.dryRun && { dryRun: true }) };
  const running = new Map<string, Promise<ReconcileResult>>();
  let stopped = false;
  /** Waits between reconciles, each with the function that ends it early (stop, or a trigger). */
  const waits = new Map<NodeJS.Timeout, () => void>();

  /** One reconcile of an environment at a time: a trigger while one runs joins it. */
  const reconcile = (name: string): Promise<ReconcileResult> => {
    const inFlight = running.get(name);
    if (inFlight) return inFlight;
    const env = config.doc.environments.find((e) => e.name === name)!;
    const done = reconcileEnvironment(env, shared).finally(() => running.delete(name));
    running.set(name, done);
    return done.then((r) => {
      options.onResult(r);
      return r;
    });
  };

  return {
    config,
    reconcileAll: () => Promise.all(config.doc.environments.map((e) => reconcile(e.name))),
    async loop() {
      await Promise.all(
        config.doc.environments.map(async (env) => {
          while (!stopped) {
            await reconcile(env.name);
            if (stopped) break;
            await new Promise<void>((wake) => {
              const timer = setTimeout(() => {
                waits.delete(timer);
                wake();
              }, config.intervals.get(env.name));
              waits.set(timer, wake);
            });
          }
        }),
      );
    },
    async stop() {
      stopped = true;
      for (const [timer, wake] of waits) {
        clearTimeout(timer);
        wake();
      }
      waits.clear();
      await Promise.allSettled(running.values());
      await Promise.all([registry.close(), clusters.close()]);
    },
  };
}
