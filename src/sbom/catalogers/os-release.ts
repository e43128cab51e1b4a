// The OS release of a root (os-release(5)): /etc/os-release, else /usr/lib/os-release; for roots
// without either, /etc/alpine-release and /etc/debian_version.
import type { OsRelease } from "../model.ts";
import type { FileTree } from "../tree.ts";

export const OS_RELEASE_FILES = new Set(["/etc/os-release", "/usr/lib/os-release", "/etc/alpine-release", "/etc/debian_version"]);

export function osRelease(tree: FileTree): OsRelease | undefined {
  for (const path of ["/etc/os-release", "/usr/lib/os-release"]) {
    const file = tree.lookup(path);
    if (file?.content) {
      const fields = parseOsRelease(file.content.toString("utf8"));
      if (fields.ID) {
        return {
          id: fields.ID.toLowerCase(),
          ...(fields.VERSION_ID && { versionId: fields.VERSION_ID }),
          ...(fields.VERSION_CODENAME && { versionCodename: fields.VERSION_CODENAME }),
          ...(fields.PRETTY_NAME && { prettyName: fields.PRETTY_NAME }),
          ...(fields.ID_LIKE && { idLike: fields.ID_LIKE.split(/\s+/).filter(Boolean) }),
          ...(fields.CPE_NAME && { cpe: fields.CPE_NAME }),
        };
      }
    }
  }
  const alpine = tree.lookup("/etc/alpine-release")?.content?.toString("utf8").trim();
  if (alpine) return { id: "alpine", versionId: alpine };
  const debian = tree.lookup("/etc/debian_version")?.content?.toString("utf8").trim();
  if (debian) return { id: "debian", versionId: /^\d+/.exec(debian)?.[0] ?? debian };
  return undefined;
}

/** KEY=value lines, values unquoted as a shell would for the forms os-release(5) allows. */
export function parseOsRelease(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let value = m[2]!;
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) value = value.slice(1, -1);
    fields[m[1]!] = quote === '"' ? value.replace(/\\(["\\$`])/g, "$1") : value;
  }
  return fields;
}
