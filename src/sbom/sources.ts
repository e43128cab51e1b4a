// What `vigil sbom TARGET` can read, and how each gives its root: an image in a registry (through
// src/oci's client, with its credentials and limits), an OCI layout, a docker archive, a directory, or
// an SBOM another tool made. A prefix names the kind ("registry:", "oci-layout:", "docker-archive:",
// "dir:", "sbom:"); without one, an existing directory is a layout if it has an oci-layout file and a
// root filesystem otherwise, an existing file is an SBOM if it is JSON and a docker archive otherwise,
// and anything else is an image reference.
import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import { InputError } from "../core/errors.ts";
import {
  type BlobReader,
  DockerArchive,
  isIndex,
  OciLayout,
  parseReference,
  type Descriptor,
  type ImageStore,
  type Manifest,
  type RegistryClient,
} from "../oci/index.ts";
import type { LayerSource } from "./layers.ts";
import type { Target } from "./model.ts";

export type Source =
  | { kind: "layers"; target: Target; layers: LayerSource[] }
  | { kind: "directory"; target: Target; path: string }
  | { kind: "sbom"; target: Target; file: string };

const PREFIXES = ["registry", "oci-layout", "docker-archive", "dir", "sbom"] as const;
const MAX_CONFIG_BYTES = 8 << 20;

export interface SourceOptions {
  /** For registry images; the caller closes it. */
  client?: () => RegistryClient;
  /** "os/arch[/variant]" to pick from a multi-platform index; default linux and this machine's architecture. */
  platform?: string;
  /** Most bytes of a registry layer fetched ahead of its reader (default 64 MiB). */
  readAheadBytes?: number;
}

const READ_AHEAD_BYTES = 64 << 20;

export async function openSource(spec: string, options: SourceOptions = {}): Promise<Source> {
  const prefix = PREFIXES.find((p) => spec.startsWith(`${p}:`));
  const rest = prefix ? spec.slice(prefix.length + 1) : spec;
  const kind = prefix ?? (await guessKind(spec));
  switch (kind) {
    case "dir":
      return { kind: "directory", target: { kind: "directory", name: rest }, path: rest };
    case "sbom":
      return { kind: "sbom", target: { kind: "sbom", name: rest }, file: rest };
    case "docker-archive":
      return dockerArchive(rest);
    case "oci-layout": {
      const { path, reference } = splitLayoutReference(rest);
      const layout = await OciLayout.open(path);
      return imageLayers(layout, reference ?? (await onlyManifest(layout)), { kind: "oci-layout", name: rest }, options.platform, (layer) =>
        layout.blobReader(layer.digest, { size: layer.size }),
      );
    }
    default: {
      if (!options.client) throw new InputError(`${spec}: no registry client to read the image with`);
      const ref = parseReference(rest);
      const repository = options.client().repository(ref);
      const readAhead = options.readAheadBytes ?? READ_AHEAD_BYTES;
      return imageLayers(repository, ref.digest ?? ref.tag ?? "latest", { kind: "image", name: rest }, options.platform, (layer) =>
        repository.blobReader(layer.digest, { size: layer.size, readAhead }),
      );
    }
  }
}

async function guessKind(spec: string): Promise<(typeof PREFIXES)[number]> {
  const info = await stat(spec).catch(() => undefined);
  if (info?.isDirectory()) return (await stat(join(spec, "oci-layout")).catch(() => undefined)) ? "oci-layout" : "dir";
  if (info?.isFile()) {
    const handle = await open(spec, "r");
    try {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(64), 0, 64, 0);
      return /^\s*[{[]/.test(buffer.toString("utf8", 0, bytesRead)) ? "sbom" : "docker-archive";
    } finally {
      await handle.close();
    }
  }
  // "DIR:TAG" or "DIR@sha256:…" naming an image in a layout.
  const layout = /^(.+?)(?::[\w][\w.-]{0,127}|@sha256:[a-f0-9]{64})$/.exec(spec);
  if (layout && (await stat(join(layout[1]!, "oci-layout")).catch(() => undefined))) return "oci-layout";
  if (/^[./~]/.test(spec)) throw new InputError(`${spec}: no such file or directory`);
  return "registry";
}

/** "DIR", "DIR:TAG" or "DIR@sha256:…", as skopeo's oci: transport writes them. */
function splitLayoutReference(rest: string): { path: string; reference?: string } {
  const at = rest.lastIndexOf("@sha256:");
  if (at > 0) return { path: rest.slice(0, at), reference: rest.slice(at + 1) };
  const colon = rest.lastIndexOf(":");
  if (colon > 0 && !rest.slice(colon + 1).includes("/")) return { path: rest.slice(0, colon), reference: rest.slice(colon + 1) };
  return { path: rest };
}

async function onlyManifest(layout: OciLayout): Promise<string> {
  const { manifests } = await layout.index();
  const images = manifests.filter((d) => d.mediaType.includes("manifest") || d.mediaType.includes("index"));
  if (images.length !== 1)
    throw new InputError(
      `${layout.dir}: index.json lists ${images.length} manifests; name one as ${layout.dir}:TAG or ${layout.dir}@DIGEST`,
    );
  return images[0]!.digest;
}

async function dockerArchive(rest: string): Promise<Source> {
  // "FILE" or "FILE:REPO:TAG"
  const info = await stat(rest).catch(() => undefined);
  let file = rest;
  let tag: string | undefined;
  if (!info) {
    const colon = rest.indexOf(":");
    if (colon > 0) {
      file = rest.slice(0, colon);
      tag = rest.slice(colon + 1);
    }
  }
  const archive = await DockerArchive.open(file);
  const image = archive.image(tag);
  return {
    kind: "layers",
    target: { kind: "docker-archive", name: rest, digest: image.configDigest, layers: image.layers.map((l) => l.diffId) },
    layers: image.layers.map((layer, index) => ({ digest: layer.diffId, index, size: layer.size, open: () => archive.layerReader(layer) })),
  };
}

/** An image's layers from a registry or layout: the manifest for the platform, its config's diff_ids, its layer blobs as streams. */
async function imageLayers(
  store: ImageStore,
  reference: string,
  target: Target,
  platform: string | undefined,
  openLayer: (layer: Descriptor) => Promise<BlobReader>,
): Promise<Source> {
  let fetched = await store.getManifest(reference);
  const digest = fetched.descriptor.digest;
  if (isIndex(fetched.manifest)) {
    const chosen = choosePlatform(fetched.manifest.manifests, platform, `${store.location}@${digest}`);
    fetched = await store.getManifest(chosen.digest);
  }
  const manifest = fetched.manifest as Extract<Manifest, { layers: unknown }>;
  const config = JSON.parse(
    (await store.getBlob(manifest.config.digest, { maxBytes: MAX_CONFIG_BYTES, size: manifest.config.size })).toString("utf8"),
  ) as { rootfs?: { diff_ids?: unknown } };
  const diffIds = Array.isArray(config.rootfs?.diff_ids) ? (config.rootfs.diff_ids as unknown[]) : [];
  if (diffIds.length !== manifest.layers.length || !diffIds.every((d) => typeof d === "string")) {
    throw new InputError(
      `${store.location}@${fetched.descriptor.digest}: the config lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers`,
    );
  }
  return {
    kind: "layers",
    target: { ...target, digest: fetched.descriptor.digest, layers: diffIds as string[] },
    layers: manifest.layers.map((layer, index) => ({
      digest: diffIds[index] as string,
      index,
      size: layer.size,
      open: () => openLayer(layer),
    })),
  };
}

function choosePlatform(manifests: Descriptor[], wanted: string | undefined, where: string): Descriptor {
  const arch =
    { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x" }[process.arch as string] ?? process.arch;
  const [os, architecture, variant] = (wanted ?? `linux/${arch}`).split("/");
  const match = manifests.find(
    (d) => d.platform?.os === os && d.platform?.architecture === architecture && (variant === undefined || d.platform?.variant === variant),
  );
  if (!match)
    throw new InputError(
      `${where}: the index has no manifest for ${wanted ?? `linux/${arch}`} (it has ${manifests.map((d) => (d.platform ? `${d.platform.os}/${d.platform.architecture}` : "unnamed")).join(", ")})`,
    );
  return match;
}
