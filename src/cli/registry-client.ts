// The registry client a command uses: credentials from docker's config.json, TLS everywhere, and plain
// HTTP only when asked for (cosign's --allow-http-registry) and only to loopback registries.
import { RegistryClient, type HostOptions, type ImageReference } from "../oci/index.ts";
import { registryApiHost } from "../oci/reference.ts";

export const registryClientOptions = {
  "allow-http-registry": { type: "boolean" },
} as const;

export const registryClientHelp = "  --allow-http-registry     reach the image's registry over plain HTTP (loopback registries only)";

export function registryClient(values: Record<string, unknown>, references: readonly ImageReference[]): RegistryClient {
  if (!values["allow-http-registry"]) return new RegistryClient();
  const hosts: Record<string, HostOptions> = {};
  for (const ref of references) hosts[registryApiHost(ref.registry)] = { scheme: "http" };
  return new RegistryClient({ hosts });
}
