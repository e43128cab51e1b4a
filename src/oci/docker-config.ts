// Registry credentials from docker's config.json ($DOCKER_CONFIG/config.json, else ~/.docker/config.json),
// as `docker login` writes them: `auths.<registry>.auth` (base64 "user:password"), or `username` and
// `password`, or an `identitytoken` (an OAuth2 refresh token). Credential helpers (`credsStore`,
// `credHelpers`) are programs we do not run; when one holds a registry's credentials the lookup says so,
// and an authentication failure names it.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { InputError } from "../core/errors.ts";
import { DOCKER_HUB } from "./reference.ts";

export type Credentials = { username: string; password: string } | { identityToken: string };

export interface CredentialLookup {
  credentials?: Credentials;
  /** Why a registry has no usable credentials here, when something else is configured to hold them. */
  note?: string;
}

/** Gives the credentials for a registry (as written in references: "docker.io", "localhost:5000"). */
export type CredentialSource = (registry: string) => CredentialLookup;

export const anonymous: CredentialSource = () => ({});

/** Fixed credentials for some registries, e.g. from command-line flags or tests. */
export function staticCredentials(byRegistry: Record<string, Credentials>): CredentialSource {
  return (registry) => {
    const credentials = byRegistry[registry];
    return credentials ? { credentials } : {};
  };
}

/** The docker config file in use: $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG ?? join(homedir(), ".docker"), "config.json");
}

/** Credentials from docker's config.json, read once on first use. A missing file means anonymous access. */
export function dockerConfigCredentials(env: NodeJS.ProcessEnv = process.env): CredentialSource {
  let config: DockerConfig | undefined;
  return (registry) => {
    config ??= readDockerConfig(dockerConfigPath(env));
    return lookup(config, normalizeRegistry(registry));
  };
}

interface DockerConfig {
  file: string;
  auths: Map<string, CredentialLookup>;
  credsStore?: string;
  credHelpers: Record<string, string>;
}

function readDockerConfig(file: string): DockerConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { file, auths: new Map(), credHelpers: {} };
    throw new InputError(`${file}: cannot read the docker config: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc)) throw new InputError(`${file}: the docker config must be a JSON object`);
  const auths = new Map<string, CredentialLookup>();
  if (doc.auths !== undefined && !isObject(doc.auths)) throw new InputError(`${file}: "auths" must be an object`);
  for (const [key, entry] of Object.entries(doc.auths ?? {})) {
    const found = entryCredentials(entry, `${file}: auths."${key}"`);
    if (found) auths.set(normalizeRegistry(key), { credentials: found });
  }
  const credsStore = typeof doc.credsStore === "string" && doc.credsStore !== "" ? doc.credsStore : undefined;
  const credHelpers: Record<string, string> = {};
  if (isObject(doc.credHelpers)) {
    for (const [key, helper] of Object.entries(doc.credHelpers))
      if (typeof helper === "string") credHelpers[normalizeRegistry(key)] = helper;
  }
  return { file, auths, credHelpers, ...(credsStore && { credsStore }) };
}

function entryCredentials(entry: unknown, where: string): Credentials | undefined {
  if (!isObject(entry)) throw new InputError(`${where} must be an object`);
  const field = (name: string) => {
    const value = entry[name];
    if (value !== undefined && typeof value !== "string") throw new InputError(`${where}.${name} must be a string`);
    return value === "" ? undefined : value;
  };
  const identityToken = field("identitytoken");
  if (identityToken) return { identityToken };
  const auth = field("auth");
  if (auth) {
    const decoded = Buffer.from(auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (!/^[A-Za-z0-9+/]+=*$/.test(auth) || colon <= 0) throw new InputError(`${where}.auth must be base64 of "username:password"`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  const username = field("username");
  const password = field("password");
  if (username && password) return { username, password };
  return undefined;
}

function lookup(config: DockerConfig, registry: string): CredentialLookup {
  const helper = config.credHelpers[registry] ?? (config.auths.has(registry) ? undefined : config.credsStore);
  if (helper) {
    return {
      note: `${config.file} keeps the credentials for ${registry} in the credential helper docker-credential-${helper}, which Vigil does not run; write them into "auths" instead`,
    };
  }
  return config.auths.get(registry) ?? {};
}

/** "https://index.docker.io/v1/" → "docker.io"; "https://registry.example.com/" → "registry.example.com". */
function normalizeRegistry(key: string): string {
  const host = key
    .replace(/^[a-z]+:\/\//i, "")
    .split("/")[0]!
    .toLowerCase();
  return host === "index.docker.io" || host === "registry-1.docker.io" ? DOCKER_HUB : host;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
