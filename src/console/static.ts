// The web console's files, read once at start: its own sources (console/web, plain ES modules run as
// written, no build step) and the two libraries it imports (Preact, htm) from node_modules. Only these
// paths are served; the page's Content-Security-Policy allows scripts from this origin and the one
// inline import map, by its hash.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

export interface StaticFile {
  body: Buffer;
  type: string;
  csp: string;
}

const WEB = join(import.meta.dirname, "..", "..", "console", "web");
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};
const VENDOR: Record<string, string> = { "preact.mjs": "preact", "hooks.mjs": "preact/hooks", "htm.mjs": "htm" };
const BASE_CSP =
  "default-src 'none'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** `connect`: origins the page may call besides its own (the OIDC issuer's, for a person's sign-in). */
export function staticFiles(connect: readonly string[] = []): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const base = BASE_CSP.replace("connect-src 'self'", ["connect-src 'self'", ...connect].join(" "));
  const add = (path: string, file: string) => {
    const type = TYPES[file.slice(file.lastIndexOf("."))];
    if (type) files.set(path, { body: readFileSync(file), type, csp: `${base}; script-src 'self'` });
  };
  for (const name of readdirSync(WEB)) add(`/${name}`, join(WEB, name));
  for (const [name, specifier] of Object.entries(VENDOR)) add(`/vendor/${name}`, fileURLToPath(import.meta.resolve(specifier)));
  const index = files.get("/index.html");
  if (index) {
    const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(index.body.toString("utf8"))?.[1] ?? "";
    index.csp = `${base}; script-src 'self' 'sha256-${createHash("sha256").update(importMap).digest("base64")}'`;
  }
  return files;
}
