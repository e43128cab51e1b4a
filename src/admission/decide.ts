// The webhook's decision on one admission request, as a checklist, failing closed:
//   1. only CREATE and UPDATE of objects that run images are judged; anything else in the request is refused;
//   2. the namespace must be an environment's (else nothing Vigil verified applies there);
//   3. an UPDATE that runs no image the object did not already run is admitted (labels, scale, status);
//   4. every image must be registry/repository@digest verified for that environment, or a tag the
//      inventory resolves to one (ReplicaSets and Pods a controller makes from a template Vigil applied
//      carry the template's pinned digests, so they pass here, and only here; the agent records the
//      digests it verified in the inventory before its dry run and apply, so its own writes pass here
//      too: no identity, the agent's included, is a pass of its own);
//   5. otherwise a valid break-glass token for this very object admits it once, recorded in the audit log;
//   6. otherwise refused, naming each image and what to do.
import type { KubeObject } from "../manifest/manifests.ts";
import { imageFieldsOf } from "../manifest/workloads.ts";
import { parseReference } from "../oci/reference.ts";
import { BREAK_GLASS_ANNOTATION, type BreakGlassGrant, type BreakGlassResult, type BreakGlassTarget } from "./break-glass.ts";
import type { EnvironmentImages } from "./verified.ts";
import { namesTag } from "./verified.ts";

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: string;
  userInfo: { username?: string; groups?: string[] };
  object?: KubeObject;
  oldObject?: KubeObject;
  dryRun?: boolean;
}

export interface Decision {
  allowed: boolean;
  /** Why, for the API server's answer to the client (shown by kubectl) and the webhook's log. */
  message: string;
  /** Which rule decided. */
  rule: "not-judged" | "no-environment" | "unchanged-images" | "verified" | "break-glass" | "refused" | "inventory-stale" | "bad-request";
  environment?: string;
  images: string[];
  grant?: BreakGlassGrant;
}

export interface DecisionContext {
  /** The environment a namespace belongs to. */
  environmentOf(namespace: string): { name: string } | undefined;
  /** The environment's verified images; `fresh` reads the inventory again (after a miss). */
  images(environment: string, fresh: boolean): Promise<EnvironmentImages>;
  /** Whether the copy of the inventory is too old to answer from. */
  stale(): string | undefined;
  /** Verifies a break-glass token for the object (signature, admin, object, time); does not use it up. */
  verifyBreakGlass(token: string, target: BreakGlassTarget): Promise<BreakGlassResult>;
  /** Uses the token up and records the admission in the audit log; a failure refuses. */
  recordBreakGlass(grant: BreakGlassGrant, request: AdmissionRequest, images: string[]): Promise<void>;
}

const WHAT_TO_DO =
  "deploy it through Vigil (commit it to the environment's configuration repository: the agent verifies the image, pins its digest and records it), " +
  "or in an emergency have an admin of the trust policy sign a break-glass token for this object (vigil admission break-glass)";

export async function decide(req: AdmissionRequest, ctx: DecisionContext): Promise<Decision> {
  const refuse = (rule: Decision["rule"], message: string, images: string[] = [], environment?: string): Decision => ({
    allowed: false,
    rule,
    message,
    images,
    ...(environment && { environment }),
  });
  if (req.operation !== "CREATE" && req.operation !== "UPDATE")
    return { allowed: true, rule: "not-judged", message: `${req.operation} runs no new image`, images: [] };
  const object = req.object;
  if (!isObject(object)) return refuse("bad-request", "the request carries no object to judge");
  const what = `${req.kind.kind} ${req.namespace ?? ""}/${req.name || object.metadata?.name || object.metadata?.generateName || ""}`;
  const namespace = req.namespace;
  const env = namespace ? ctx.environmentOf(namespace) : undefined;
  if (!env)
    return refuse(
      "no-environment",
      `vigil admission: ${what}: namespace ${namespace ?? "(none)"} is no Vigil environment's, so no image is verified for it: add it to an environment's namespaces in the admission configuration, or deploy in an environment's namespace`,
    );
  const read = readImages(object);
  if ("error" in read) return refuse("refused", `vigil admission: ${what}: ${read.error}`, [], env.name);
  const images = read.images;
  if (req.operation === "UPDATE" && isObject(req.oldObject)) {
    const before = readImages(req.oldObject);
    if ("images" in before && images.every((i) => before.images.some((b) => b.image === i.image))) {
      return {
        allowed: true,
        rule: "unchanged-images",
        message: "runs no image it did not run before",
        images: images.map((i) => i.image),
        environment: env.name,
      };
    }
  }
  const stale = ctx.stale();
  if (stale)
    return refuse(
      "inventory-stale",
      `vigil admission: ${what}: ${stale}; refusing until it can be read (fail closed)`,
      images.map((i) => i.image),
      env.name,
    );
  let unverified = await unverifiedImages(images, await ctx.images(env.name, false));
  if (unverified.length > 0) unverified = await unverifiedImages(images, await ctx.images(env.name, true));
  const names = images.map((i) => i.image);
  if (unverified.length === 0)
    return {
      allowed: true,
      rule: "verified",
      message: `every image is a digest Vigil verified for ${env.name}`,
      images: names,
      environment: env.name,
    };
  const token = object.metadata?.annotations?.[BREAK_GLASS_ANNOTATION];
  const refusal = `vigil admission: ${what} is refused in environment ${env.name}: ${unverified.map((u) => u.why).join("; ")}. To run it: ${WHAT_TO_DO}`;
  if (typeof token !== "string") return refuse("refused", refusal, names, env.name);
  return breakGlass(
    req,
    ctx,
    token,
    { kind: req.kind.kind, namespace: namespace!, name: req.name || object.metadata?.name || "" },
    names,
    env.name,
    refusal,
  );
}

async function breakGlass(
  req: AdmissionRequest,
  ctx: DecisionContext,
  token: string,
  target: BreakGlassTarget,
  images: string[],
  environment: string,
  refusal: string,
): Promise<Decision> {
  if (target.name === "")
    return {
      allowed: false,
      rule: "refused",
      message: `${refusal}. The break-glass token cannot admit an object without a name (generateName): give it a name`,
      images,
      environment,
    };
  const verified = await ctx.verifyBreakGlass(token, target);
  if (!verified.ok)
    return {
      allowed: false,
      rule: "refused",
      message: `${refusal}. Its break-glass token is refused: ${verified.reason}`,
      images,
      environment,
    };
  try {
    await ctx.recordBreakGlass(verified.grant, req, images);
  } catch (e) {
    return {
      allowed: false,
      rule: "refused",
      message: `${refusal}. Its break-glass token is refused: ${(e as Error).message}`,
      images,
      environment,
    };
  }
  const { claim, signer } = verified.grant;
  return {
    allowed: true,
    rule: "break-glass",
    message: `admitted by break-glass: signed by ${signer}, "${claim.reason}", valid until ${claim.notAfter}`,
    images,
    environment,
    grant: verified.grant,
  };
}

interface Image {
  image: string;
  where: string;
}

/** Every image of the object, each a string; an image field that is not one is an error (never skipped). */
function readImages(o: KubeObject): { images: Image[] } | { error: string } {
  const images: Image[] = [];
  for (const field of imageFieldsOf(o)) {
    if (typeof field.value !== "string" || field.value === "") return { error: `${field.where} has no image name` };
    images.push({ image: field.value, where: field.where });
  }
  return { images };
}

/**
 * Judgements per copy of an environment's verified images: the same few images come back in every
 * request (each replica's Pods), and a new copy (a changed inventory) starts afresh. Bounded: a copy's
 * judgements are dropped when a flood of distinct images fills them.
 */
const judged = new WeakMap<EnvironmentImages, Map<string, string | undefined>>();
const MAX_JUDGED = 10_000;

function judgeCached(image: string, verified: EnvironmentImages): string | undefined {
  let cache = judged.get(verified);
  if (!cache || cache.size >= MAX_JUDGED) judged.set(verified, (cache = new Map()));
  if (cache.has(image)) return cache.get(image);
  const why = judgeImage(image, verified);
  cache.set(image, why);
  return why;
}

async function unverifiedImages(images: readonly Image[], verified: EnvironmentImages): Promise<{ image: string; why: string }[]> {
  const out: { image: string; why: string }[] = [];
  for (const { image, where } of images) {
    const why = judgeCached(image, verified);
    if (why) out.push({ image, why: `image "${image}" (${where}) ${why}` });
  }
  return out;
}

/** Why the image is not verified, or undefined when it is. */
function judgeImage(image: string, verified: EnvironmentImages): string | undefined {
  let ref;
  try {
    ref = parseReference(image);
  } catch (e) {
    return `is not a valid image reference (${(e as Error).message})`;
  }
  const repository = `${ref.registry}/${ref.repository}`;
  if (ref.digest)
    return verified.pinned.has(`${repository}@${ref.digest}`)
      ? undefined
      : `is not a digest Vigil verified for this environment (${repository}@${ref.digest} is not in the inventory)`;
  const digest = namesTag(image) ? verified.tags.get(`${repository}:${ref.tag}`) : undefined;
  if (digest) return undefined;
  return `is a tag, not a digest, and the inventory resolves ${repository}:${ref.tag ?? "latest"} to no verified digest`;
}

function isObject(o: unknown): o is KubeObject {
  return typeof o === "object" && o !== null && !Array.isArray(o);
}
