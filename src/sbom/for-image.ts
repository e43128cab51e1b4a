// The SBOM of an image as the agent and the monitor use it: the CycloneDX (or SPDX) attestation CI
// attached, when its signature verifies against the image's trust rules; otherwise one generated from
// the image itself. Generated SBOMs are cached by manifest digest (in memory, and in a directory when
// given), since the same digest always has the same content.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { InputError } from "../core/errors.ts";
import { Lru } from "../core/lru.ts";
import { verifyImage, type ImageRequirements } from "../artifact/verify-image.ts";
import { formatReference, parseReference, type RegistryClient } from "../oci/index.ts";
import { VerificationFailure } from "../sigstore/failure.ts";
import { PREDICATE_TYPES } from "../sigstore/intoto.ts";
import { generateInventory, type GenerateOptions } from "./generate.ts";
import type { Inventory } from "./model.ts";
import { readSbom } from "./read-sbom.ts";

export interface SbomForImageOptions {
  client: RegistryClient;
  /** The image's trust rules (signers, trusted root): an attested SBOM is used only when a trusted signer signed it. Without them, none is. */
  trust?: Omit<ImageRequirements, "attestations">;
  /** A directory to keep generated SBOMs in, by digest. */
  cacheDir?: string;
  limits?: GenerateOptions["limits"];
}

export interface ImageSbom {
  digest: string;
  origin: "attested" | "generated" | "cache";
  inventory: Inventory;
  /** Why no attested SBOM was used, when none was. */
  attestation?: string;
}

const ATTESTED_TYPES = [PREDICATE_TYPES.cyclonedx, "https://spdx.dev/Document"];
/** Generated SBOMs kept in memory, the most recently used first: a cluster runs a few hundred images. */
const memory = new Lru<string, Inventory>(512);

export async function sbomForImage(reference: string, options: SbomForImageOptions): Promise<ImageSbom> {
  const ref = parseReference(reference);
  const digest = ref.digest ?? (await options.client.repository(ref).resolve(ref.tag ?? "latest")).digest;
  const pinned = formatReference({ ...ref, digest });
  let why = "no trust rules were given, so no attestation is trusted";
  if (options.trust) {
    const attested = await attestedSbom(pinned, digest, options);
    if ("inventory" in attested) return attested;
    why = attested.reason;
  }
  const cached = memory.get(digest) ?? (options.cacheDir ? await readCache(options.cacheDir, digest) : undefined);
  if (cached) return { digest, origin: "cache", inventory: cached, attestation: why };
  const inventory = await generateInventory(`registry:${pinned}`, {
    client: () => options.client,
    ...(options.limits && { limits: options.limits }),
  });
  memory.set(digest, inventory);
  if (options.cacheDir) await writeCache(options.cacheDir, digest, inventory);
  return { digest, origin: "generated", inventory, attestation: why };
}

async function attestedSbom(pinned: string, digest: string, options: SbomForImageOptions): Promise<ImageSbom | { reason: string }> {
  const reasons: string[] = [];
  for (const predicateType of ATTESTED_TYPES) {
    try {
      const verified = await verifyImage(options.client, pinned, { ...options.trust!, attestations: [{ predicateType }] });
      const predicate = verified.attestations.find((a) => a.predicateType === predicateType)?.predicate;
      return { digest, origin: "attested", inventory: readSbom(predicate, `${predicateType} attestation of ${pinned}`) };
    } catch (e) {
      // A signed SBOM that is not a valid one is not used either: the image's own content is.
      if (!(e instanceof VerificationFailure) && !(e instanceof InputError)) throw e;
      reasons.push(e.message);
    }
  }
  return { reason: reasons.join("; ") };
}

function cacheFile(dir: string, digest: string): string {
  return join(dir, `${digest.replace(":", "-")}.json`);
}

async function readCache(dir: string, digest: string): Promise<Inventory | undefined> {
  const text = await readFile(cacheFile(dir, digest), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const inventory = JSON.parse(text) as Inventory;
    return inventory.target?.digest === digest && Array.isArray(inventory.components) ? inventory : undefined;
  } catch {
    return undefined; // a torn or foreign file is regenerated, not trusted
  }
}

async function writeCache(dir: string, digest: string, inventory: Inventory): Promise<void> {
  await mkdir(dir, { recursive: true });
  const file = cacheFile(dir, digest);
  await writeFile(`${file}.tmp`, JSON.stringify(inventory));
  await rename(`${file}.tmp`, file);
}
