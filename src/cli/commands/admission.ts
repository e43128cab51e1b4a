import { once } from "node:events";
import { startAdmission } from "../../admission/admission.ts";
import { BREAK_GLASS_ANNOTATION, breakGlassClaim, signBreakGlass } from "../../admission/break-glass.ts";
import { loadAdmissionConfig } from "../../admission/config.ts";
import { parseDuration } from "../../core/duration.ts";
import { InputError } from "../../core/errors.ts";
import type { DetachedSigner } from "../../git/signatures/sign.ts";
import { required, defineCommand, type Values } from "../command.ts";

export const admission = defineCommand({
  usage: "vigil admission --config FILE",
  help: [
    "  --config FILE   the webhook's configuration (docs/admission.md): inventory, trustPolicy, environments, webhook, tls, audit",
    "",
    "  Serves HTTPS on `listen` (POST /validate only), issues and rotates its certificate (a Secret in the",
    "  agent's namespace) and keeps its ValidatingWebhookConfiguration (caBundle included). The policy packs are",
    "  the agent's to install (admissionPolicies: true). Prints one JSON line per decision; runs until SIGINT or SIGTERM.",
  ].join("\n"),
  options: { config: { type: "string" } },
  async run(values) {
    const config = loadAdmissionConfig(required(values, "config", this));
    const running = await startAdmission(config, (line) => process.stdout.write(`${JSON.stringify(line)}\n`));
    process.stderr.write(
      `vigil admission: listening on ${config.listen.replace(/:\d+$/, "")}:${running.port} for environments ${config.environments.map((e) => e.name).join(", ")}\n`,
    );
    await Promise.race([once(process, "SIGINT"), once(process, "SIGTERM")]);
    await running.stop();
    return 0;
  },
});

export const admissionBreakGlass = defineCommand({
  usage:
    "vigil admission break-glass --kind KIND --namespace NS --name NAME --reason TEXT (--key SSH_KEY | --gpg-key KEYID | --x509-program PROG [--x509-key ID]) [--expires 15m]",
  help: [
    "  --kind, --namespace, --name   the one object the token admits (as the API server names it: Pod, Deployment…)",
    "  --reason TEXT                 why: recorded in the audit log with the signer",
    "  --key FILE                    an SSH private key the trust policy gives an admin (ssh-keygen -Y sign, namespace vigil-break-glass)",
    "  --gpg-key KEYID               or an OpenPGP key, through gpg",
    "  --x509-program PROG           or an x509 signing program (gitsign, gpgsm), with --x509-key ID",
    "  --expires DURATION            how long it is valid from now (default 15m; the webhook caps it, 1h by default)",
    "",
    `  Prints the value of the ${BREAK_GLASS_ANNOTATION} annotation to put on the object.`,
  ].join("\n"),
  options: {
    kind: { type: "string" },
    namespace: { type: "string" },
    name: { type: "string" },
    reason: { type: "string" },
    key: { type: "string" },
    "gpg-key": { type: "string" },
    "x509-program": { type: "string" },
    "x509-key": { type: "string" },
    expires: { type: "string" },
  },
  async run(values) {
    const target = {
      kind: required(values, "kind", this),
      namespace: required(values, "namespace", this),
      name: required(values, "name", this),
    };
    const reason = required(values, "reason", this);
    const lifetime = parseDuration(values.expires ?? "15m", "--expires");
    const claim = breakGlassClaim(target, reason, lifetime);
    const token = signBreakGlass(claim, signerOf(values, this));
    if (values.json) process.stdout.write(`${JSON.stringify({ annotation: BREAK_GLASS_ANNOTATION, token, claim })}\n`);
    else process.stdout.write(`${token}\n`);
    return 0;
  },
});

function signerOf(values: Values<typeof admissionBreakGlass.options>, cmd: { usage: string }): DetachedSigner {
  const { key, "gpg-key": gpgKey, "x509-program": x509Program, "x509-key": keyId } = values;
  const oneOf = `give one of --key, --gpg-key or --x509-program\nusage: ${cmd.usage}`;
  if ([key, gpgKey, x509Program].filter((v) => v !== undefined).length !== 1) throw new InputError(oneOf);
  if (key !== undefined) return { ssh: key };
  if (gpgKey !== undefined) return { openpgp: gpgKey };
  if (x509Program !== undefined) return { x509Program, ...(keyId !== undefined && { keyId }) };
  throw new InputError(oneOf);
}
