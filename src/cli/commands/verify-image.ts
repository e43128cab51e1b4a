import { dump } from "js-yaml";
import { InputError } from "../../core/errors.ts";
import { loadTrustPolicyFile } from "../../trust/policy.ts";
import { artifactChecks, GATE, imageChecks, type ImageGateResult } from "../../artifact/gate.ts";
import { check } from "../../core/verdict.ts";
import { checkDeclarations, imageUses } from "../../artifact/images.ts";
import { parseReference } from "../../oci/reference.ts";
import { loadManifests, type SourcedObject } from "../../manifest/manifests.ts";
import { trustedRootOption } from "../options.ts";
import { writeOutputFile } from "../output-file.ts";
import { verdictSink } from "../output.ts";
import { registryClient, registryClientHelp, registryClientOptions } from "../registry-client.ts";
import { required, defineCommand } from "../command.ts";

export const verifyImage = defineCommand({
  usage:
    "vigil verify image (IMAGE... | --manifests PATH...) --trust FILE [--trusted-root FILE] [--pinned FILE] [--allow-http-registry] [--json]",
  help: [
    "  IMAGE              an image reference (registry/repository[:tag][@digest]); the tag is resolved to a digest",
    "  --manifests PATH   manifest files or folders: every image of every pod-carrying kind (repeatable)",
    "  --trust FILE       the trust policy; its images rules say who must sign and which attestations are required",
    "  --trusted-root FILE  Sigstore trusted_root.json, for rules with certificate identities (keyless)",
    "  --pinned FILE      with --manifests: write the manifests pinned to the verified digests (only if all pass)",
    registryClientHelp,
    "",
    "  Registry credentials come from docker's config.json (DOCKER_CONFIG honoured); plain HTTP only to loopback.",
  ].join("\n"),
  options: {
    manifests: { type: "string", multiple: true },
    trust: { type: "string" },
    "trusted-root": { type: "string" },
    pinned: { type: "string" },
    ...registryClientOptions,
  },
  positionals: true,
  async run(values, positionals) {
    const manifestPaths = values.manifests ?? [];
    if ((positionals.length === 0) === (manifestPaths.length === 0))
      throw new InputError(`give IMAGE references or --manifests, one of the two\nusage: ${this.usage}`);
    if (values.pinned && manifestPaths.length === 0) throw new InputError(`--pinned needs --manifests\nusage: ${this.usage}`);
    const policy = await loadTrustPolicyFile(required(values, "trust", this));
    const trustedRoot = trustedRootOption(values);
    const targets = positionals.map((image) => ({ image, reference: parseReference(image), where: "image" }));
    const manifests = loadManifests(manifestPaths);
    checkDeclarations(policy.doc.kinds, (i, j) => policy.where(["kinds", i, "images", j]));
    const client = registryClient(
      values,
      [...targets, ...imageUses(manifests, policy.doc.kinds)].map((t) => t.reference),
    );
    let result: ImageGateResult;
    let pinned: SourcedObject[] | null = null;
    try {
      const options = { policy, client, ...(trustedRoot ? { trustedRoot } : {}) };
      if (manifestPaths.length === 0) result = await imageChecks(targets, options);
      else {
        const gate = await artifactChecks(manifests, options);
        pinned = gate.pinned;
        result = gate;
      }
    } finally {
      await client.close();
    }
    const subject =
      positionals.length > 0
        ? { images: positionals.join(" "), trust: policy.source }
        : { manifests: manifestPaths.join(" "), trust: policy.source };
    const sink = verdictSink(subject, values.json === true);
    result.checks.forEach((c) => sink.add(c));
    // A verdict must rest on checks: nothing to check (an empty folder, a wrong path) is a failure.
    if (result.checks.length === 0)
      sink.add(
        check({
          gate: GATE,
          rule: "image-signature",
          status: "fail",
          subject: "manifests",
          message: `no manifests under ${manifestPaths.join(", ")}: give the files or folders the environment deploys`,
          code: "no-manifests",
        }),
      );
    const verdict = sink.end();
    // Written only on a passing verdict, so a pipeline that applies the file never applies a refusal.
    if (verdict === "pass" && values.pinned && pinned)
      writeOutputFile(values.pinned, pinned.map((so) => dump(so.object, { lineWidth: -1, noRefs: true })).join("---\n"));
    if (verdict === "pass") return 0;
    return result.unavailable ? 3 : 1;
  },
});
