// vigil console: the web console and its read-only API (docs/console.md); vigil console token: a new
// bearer token and the line that lets it in.
import { randomBytes } from "node:crypto";
import { isOneOf } from "../options.ts";
import { InputError } from "../../core/errors.ts";
import { tokenDigest } from "../../console/auth.ts";
import { loadConsoleConfig, ROLES, type Role } from "../../console/config.ts";
import { startConsole } from "../../console/server.ts";
import { required, defineCommand } from "../command.ts";

export const consoleCommand = defineCommand({
  usage: "vigil console --config FILE [--json]",
  help: [
    "  --config FILE     the console's configuration (ConsoleConfig: listen, tls, audit, inventory, repository, tokens, oidc)",
    "  Prints the address and the certificate's SHA-256 fingerprint, then serves until interrupted.",
    "  The API is described at /api/v1/openapi.json; every call is logged (accessLog, or standard error).",
  ].join("\n"),
  options: { config: { type: "string" } },
  async run(values) {
    const config = loadConsoleConfig(required(values, "config", this));
    const running = await startConsole(config);
    process.stdout.write(
      values.json
        ? JSON.stringify({ url: running.url, fingerprint: running.fingerprint }) + "\n"
        : `console: ${running.url}\ncertificate SHA-256: ${running.fingerprint}\nAPI: ${running.url}api/v1/openapi.json\n`,
    );
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    await running.close();
    return 0;
  },
});

export const consoleToken = defineCommand({
  usage: "vigil console token --name NAME --role viewer|auditor [--json]",
  help: [
    "  --name NAME       who holds it (shown in the access log)",
    "  --role ROLE       viewer (environments, chains, findings, approvals) or auditor (also the audit log: search, checkpoints, export)",
    "  Only the token's SHA-256 goes into the configuration; the token is printed once.",
  ].join("\n"),
  options: { name: { type: "string" }, role: { type: "string" } },
  async run(values) {
    const name = required(values, "name", this);
    const role = required(values, "role", this);
    if (!isOneOf(role, ROLES)) throw new InputError(`--role ${JSON.stringify(role)}: must be viewer or auditor`);
    if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(name))
      throw new InputError(`--name ${JSON.stringify(name)}: letters, digits, . _ @ and - (at most 64)`);
    const { token, entry } = newToken(name, role);
    process.stdout.write(
      values.json
        ? JSON.stringify({ token, entry }) + "\n"
        : `token: ${token}\n\nadd to the console's configuration:\ntokens:\n  - { name: ${entry.name}, role: ${entry.role}, sha256: ${entry.sha256} }\n`,
    );
    return 0;
  },
});

export function newToken(name: string, role: Role): { token: string; entry: { name: string; role: Role; sha256: string } } {
  const token = `vigil_${randomBytes(32).toString("base64url")}`;
  return { token, entry: { name, role, sha256: tokenDigest(token).toString("hex") } };
}
