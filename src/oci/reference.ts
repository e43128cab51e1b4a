// Image references as docker writes them (distribution/reference's grammar): [registry/]repository[:tag][@digest].
// A name without a registry is on Docker Hub ("docker.io"), and a one-part Docker Hub name is an
// official image under "library/". The first path component is a registry when it has a "." or ":",
// is "localhost", or has upper-case letters (which a repository may not).
import { InputError } from "../core/errors.ts";
import { digestAlgorithm } from "./digest.ts";

export const DOCKER_HUB = "docker.io";
/** Where Docker Hub's registry API actually answers. */
const DOCKER_HUB_API = "registry-1.docker.io";

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const REGISTRY = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]{1,5})?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const MAX_NAME_LENGTH = 255;

export interface ImageReference {
  /** The registry as written, normalised: "docker.io", "ghcr.io", "localhost:5000", "[::1]:5000". */
  registry: string;
  /** The repository path: "library/alpine", "team/app". */
  repository: string;
  /** The tag; "latest" when the reference names neither a tag nor a digest. */
  tag?: string;
  /** The manifest digest, when pinned. */
  digest?: string;
}

/** Parses a reference; throws InputError naming the reference and what is wrong with it. */
export function parseReference(input: string): ImageReference {
  const fail = (why: string) => new InputError(`image reference "${input}": ${why}`);
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    digestAlgorithm(digest, `image reference "${input}"`);
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(":");
  if (lastColon > rest.lastIndexOf("/")) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw fail(`invalid tag "${tag}" (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }
  const { registry, repository } = splitRegistry(rest, fail);
  if (!digest && !tag) tag = "latest";
  return { registry, repository, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

function splitRegistry(name: string, fail: (why: string) => InputError): { registry: string; repository: string } {
  if (name === "") throw fail("no repository name");
  const slash = name.indexOf("/");
  const first = slash < 0 ? "" : name.slice(0, slash);
  const hasRegistry = slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase());
  let registry = hasRegistry ? first : DOCKER_HUB;
  let repository = hasRegistry ? name.slice(slash + 1) : name;
  if (hasRegistry && !REGISTRY.test(registry)) throw fail(`invalid registry "${registry}"`);
  if (registry === "index.docker.io") registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`;
  if (repository !== repository.toLowerCase()) throw fail("repository name must be lowercase");
  if (/^[a-f0-9]{64}$/.test(repository)) throw fail("repository name must not be a 64-character hex string (it would read as an image id)");
  for (const component of repository.split("/")) {
    if (!PATH_COMPONENT.test(component))
      throw fail(`invalid repository path component "${component}" (lowercase letters, digits and . _ __ - separators)`);
  }
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH) throw fail(`name longer than ${MAX_NAME_LENGTH} characters`);
  return { registry, repository };
}

/** The canonical string: registry/repository[:tag][@digest]. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** The host[:port] whose /v2/ API serves a registry name. */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** Whether a host[:port] is on this machine, where plain HTTP carries no risk from the network. */
export function isLoopbackHost(host: string): boolean {
  const hostname = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.replace(/:\d+$/, "");
  return hostname === "localhost" || hostname === "::1" || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}
