// The registry client a command uses: credentials from docker's config.json, TLS everywhere, and plain
// HTTP only when asked for (cosign's --allow-http-registry) and only to loopback registries.
import { parseDuration } from "../core/duration.ts";
import { RegistryClient, type HostOptions, type ImageReference, type RegistryClientOptions } from "../oci/index.ts";
import { registryApiHost } from "../oci/reference.ts";

export const registryClientOptions = {
  "allow-http-registry": { type: "boolean" },
  "registry-timeout": { type: "string" },
} as const;

export const registryClientHelp = [
  "  --allow-http-registry     reach the image's registry over plain HTTP (loopback registries only)",
  "  --registry-timeout D      longest wait for one registry request, e.g. 30s (default 2m; connecting 10s, a stalled body 30s)",
].join("\n");

export function registryClient(values: Record<string, unknown>, references: readonly ImageReference[]): RegistryClient {
  const options: RegistryClientOptions = {};
  if (typeof values["registry-timeout"] === "string") {
    // A registry that answers slowly, or never, costs at most this per request; then exit 3.
    const ms = parseDuration(values["registry-timeout"], "--registry-timeout");
    options.timeouts = {
      requestMs: ms,
      headersMs: Math.min(ms, 30_000),
      bodyIdleMs: Math.min(ms, 30_000),
      connectMs: Math.min(ms, 10_000),
    };
  }
  if (values["allow-http-registry"]) {
    const hosts: Record<string, HostOptions> = {};
    for (const ref of references) hosts[registryApiHost(ref.registry)] = { scheme: "http" };
    options.hosts = hosts;
  }
  return new RegistryClient(options);
}
