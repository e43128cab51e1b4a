// Small images for the layer-reading tests: layer blobs stored as given in an OCI layout, with diff_ids
// from the uncompressed tars, and the same layers pushed to a registry.
import { join } from "node:path";
import { OciLayout, type RegistryRepository } from "../../src/oci/index.ts";
import { digestOf } from "../../src/oci/digest.ts";

function configOf(diffIds: string[]): Buffer {
  return Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: diffIds } }));
}

function manifestOf(config: { digest: string; size: number }, layers: { digest: string; size: number }[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...l })),
    }),
  );
}

/** An OCI layout tagged "t" with these layer blobs (stored as given); diff_ids from `tars` where given, else from the blobs. */
export async function layoutOf(
  dir: string,
  blobs: Buffer[],
  tars: (Buffer | undefined)[] = [],
): Promise<{ target: string; diffIds: string[] }> {
  const layout = await OciLayout.create(join(dir, "layout"));
  const layers = [];
  const diffIds = blobs.map((b, i) => digestOf(tars[i] ?? b));
  for (const blob of blobs) layers.push(await layout.putBlob(blob));
  const config = await layout.putBlob(configOf(diffIds));
  await layout.putManifest(manifestOf(config, layers), { tag: "t" });
  return { target: `oci-layout:${join(dir, "layout")}:t`, diffIds };
}

/**
 * The same image pushed to a registry repository under `tag`. `declaredSizes` overrides the sizes the
 * manifest gives its layers (a manifest that lies about a layer's size).
 */
export async function pushImage(
  repository: RegistryRepository,
  tag: string,
  blobs: Buffer[],
  tars: Buffer[],
  declaredSizes: (number | undefined)[] = [],
): Promise<{ layers: { digest: string; size: number }[] }> {
  const layers = [];
  for (const [i, blob] of blobs.entries()) {
    const pushed = await repository.putBlob(blob);
    layers.push({ digest: pushed.digest, size: declaredSizes[i] ?? pushed.size });
  }
  const config = await repository.putBlob(configOf(tars.map((t) => digestOf(t))));
  await repository.putManifest(manifestOf(config, layers), { tag });
  return { layers };
}
