// The console's configuration file (docs/console.md): where it listens and with which certificate, the
// audit log it reads (and the key its checkpoints must be signed by), the monitor's inventory and the
// configuration repository it may read, and who may call it: bearer tokens kept as SHA-256 digests, or
// an OIDC issuer whose ID tokens name a role. Strict: an unknown field or a bad value is bad input
// naming file, line and field. Relative paths are taken from the file's folder.
import { existsSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import * as v from "valibot";
import { parseVerifierKey } from "../audit/note.ts";
import { IntegrityError } from "../audit/proof.ts";
import { InputError } from "../core/errors.ts";
import { readInputText } from "../core/input-file.ts";
import { locate, parseYamlSource, validateYaml } from "../core/yaml-source.ts";

export const ROLES = ["viewer", "auditor"] as const;
export type Role = (typeof ROLES)[number];

const text = v.pipe(v.string(), v.minLength(1, "must not be empty"));
const personName = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, "must be a name of letters, digits, . _ @ and - (at most 64)"),
);

export const consoleConfigSchema = v.strictObject({
  apiVersion: v.literal("vigil.dev/v1alpha1"),
  kind: v.literal("ConsoleConfig"),
  /** HOST:PORT; loopback by default. Port 0 takes a free one (printed at start). */
  listen: v.optional(
    v.pipe(v.string(), v.regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "must be HOST:PORT, e.g. 127.0.0.1:8443")),
    "127.0.0.1:8443",
  ),
  /** A certificate and its key (PEM files), or one made at each start for localhost. */
  tls: v.union(
    [v.strictObject({ certFile: text, keyFile: text }), v.strictObject({ generate: v.literal("localhost") })],
    "must be { certFile, keyFile } or { generate: localhost }",
  ),
  audit: v.strictObject({
    /** The agent's log: a directory or a postgres:// URL, opened read-only. */
    log: text,
    /** The key its checkpoints must be signed by (NAME+HASH+BASE64, or a file holding it): never the key the log names itself. */
    verifierKey: text,
  }),
  /** The monitor's inventory folder or postgres:// URL: findings. */
  inventory: v.optional(text),
  /** A clone of the configuration repository (read only): the diffs of revisions waiting for approval. */
  repository: v.optional(text),
  /** Bearer tokens, each kept as the SHA-256 of the token (hex); `vigil console token` makes one. */
  tokens: v.optional(
    v.array(
      v.strictObject({
        name: personName,
        role: v.picklist(ROLES, 'must be "viewer" or "auditor"'),
        sha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "must be the token's SHA-256 in 64 lowercase hex digits")),
      }),
    ),
    [],
  ),
  oidc: v.optional(
    v.strictObject({
      issuer: v.pipe(v.string(), v.url("must be a URL")),
      /** The client id ID tokens must be issued to (their aud). */
      audience: text,
      /** The claim naming the caller's groups (a string or an array of strings). */
      groupsClaim: v.optional(text, "groups"),
      /** Which groups get which role; auditor wins when both match. */
      roles: v.strictObject({ viewer: v.optional(v.array(text), []), auditor: v.optional(v.array(text), []) }),
      /** Scopes the web console asks for when a person signs in with the issuer (authorization code with PKCE). */
      scopes: v.optional(v.array(text), ["openid", "email", "profile"]),
    }),
  ),
  /** Where each API call is logged as a JSON line (who, role, what, status): a file, or standard error. */
  accessLog: v.optional(text),
});

export type ConsoleConfigFile = v.InferOutput<typeof consoleConfigSchema>;
export interface ConsoleConfig extends Omit<ConsoleConfigFile, "audit"> {
  audit: { log: string; verifierKey: string };
  /** The file it came from, for messages. */
  file: string;
}

export function loadConsoleConfig(file: string): ConsoleConfig {
  const src = parseYamlSource(readInputText(file, "the console configuration"), file);
  const doc = validateYaml(consoleConfigSchema, src, "console configuration");
  const base = dirname(resolve(file));
  const abs = (p: string) => (isAbsolute(p) || /^postgres(ql)?:\/\//.test(p) ? p : resolve(base, p));
  if (doc.tokens.length === 0 && !doc.oidc)
    throw new InputError(`${locate(src, [])}: give tokens or oidc: a console nobody may call serves nothing`);
  const names = new Set<string>();
  doc.tokens.forEach((t, i) => {
    if (names.has(t.sha256)) throw new InputError(`${locate(src, ["tokens", i, "sha256"])}: the same token is listed twice`);
    names.add(t.sha256);
  });
  if (doc.oidc && !secureIssuer(doc.oidc.issuer))
    throw new InputError(`${locate(src, ["oidc", "issuer"])}: an issuer must be https:// (http:// only on loopback)`);
  const files: [PropertyKey[], string][] = [
    ...("certFile" in doc.tls
      ? ([
          [["tls", "certFile"], doc.tls.certFile],
          [["tls", "keyFile"], doc.tls.keyFile],
        ] as [PropertyKey[], string][])
      : []),
    ...(doc.repository ? [[["repository"], doc.repository] as [PropertyKey[], string]] : []),
    ...(isDatabase(doc.audit.log) ? [] : [[["audit", "log"], doc.audit.log] as [PropertyKey[], string]]),
    // A mistyped inventory folder would otherwise be made empty, and show no findings: safe-looking, and wrong.
    ...(doc.inventory && !isDatabase(doc.inventory) ? [[["inventory"], doc.inventory] as [PropertyKey[], string]] : []),
  ];
  for (const [path, p] of files) if (!existsSync(abs(p))) throw new InputError(`${locate(src, path)}: ${abs(p)} does not exist`);
  return {
    ...doc,
    file,
    tls: "certFile" in doc.tls ? { certFile: abs(doc.tls.certFile), keyFile: abs(doc.tls.keyFile) } : doc.tls,
    audit: { log: abs(doc.audit.log), verifierKey: verifierKey(doc.audit.verifierKey, abs, locate(src, ["audit", "verifierKey"])) },
    ...(doc.inventory && { inventory: abs(doc.inventory) }),
    ...(doc.repository && { repository: abs(doc.repository) }),
    ...(doc.accessLog && { accessLog: abs(doc.accessLog) }),
  };
}

const isDatabase = (location: string) => /^postgres(ql)?:\/\//.test(location);

/** https://, or http:// to a loopback address (a test issuer, or one reached through a local proxy). */
export function secureIssuer(issuer: string): boolean {
  const url = new URL(issuer);
  return url.protocol === "https:" || (url.protocol === "http:" && ["127.0.0.1", "[::1]", "localhost"].includes(url.hostname));
}

/** The verifier key as written, or read from the file it names. */
function verifierKey(value: string, abs: (p: string) => string, where: string): string {
  const parse = (text: string) => {
    try {
      return parseVerifierKey(text, where).key;
    } catch (e) {
      if (e instanceof IntegrityError) throw new InputError(e.message);
      throw e;
    }
  };
  if (value.includes("+")) return parse(value);
  if (!existsSync(abs(value))) throw new InputError(`${where}: neither a verifier key (NAME+HASH+BASE64) nor a file`);
  return parse(readInputText(abs(value), "the audit log's verifier key"));
}
