// The names the API server accepts, checked before any request: an object named "..", "a/b" or "%2e"
// would otherwise become part of a request path, and a name the server rejects later is one Vigil can
// name now, with its file. Rules as the API server validates them (apimachinery's validation of
// metadata.name): Namespaces are DNS-1123 labels, Services DNS-1035 labels, RBAC objects path segment
// names, everything else (custom resources too) DNS-1123 subdomains; a namespace is a DNS-1123 label.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `name` cannot be this kind's metadata.name, or undefined when it can. */
export function nameProblem(group: string, kind: string, name: string): string | undefined {
  if (name === "." || name === "..") return `metadata.name "${name}" may not be "." or ".." (it would change the request's path)`;
  if (/[/%]/.test(name)) return `metadata.name "${printable(name)}" may not contain "/" or "%" (it would change the request's path)`;
  if (group === "rbac.authorization.k8s.io") return undefined;
  if (group === "" && kind === "Namespace")
    return label(name, "metadata.name", DNS1123_LABEL, "a DNS-1123 label (lowercase letters, digits and -, at most 63)");
  if (group === "" && kind === "Service")
    return label(
      name,
      "metadata.name",
      DNS1035_LABEL,
      "a DNS-1035 label (a lowercase letter, then lowercase letters, digits and -, at most 63)",
    );
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name))
    return `metadata.name "${printable(name)}" is not a DNS-1123 subdomain (lowercase letters, digits, - and ., at most 253)`;
  return undefined;
}

/** Why `namespace` cannot be a metadata.namespace, or undefined when it can. */
export function namespaceProblem(namespace: string): string | undefined {
  return label(namespace, "metadata.namespace", DNS1123_LABEL, "a DNS-1123 label (lowercase letters, digits and -, at most 63)");
}

function label(value: string, field: string, pattern: RegExp, what: string): string | undefined {
  return value.length <= 63 && pattern.test(value) ? undefined : `${field} "${printable(value)}" is not ${what}`;
}

/** A name as it can be shown: control characters escaped, cut to a readable length. */
function printable(value: string): string {
  const shown = JSON.stringify(value).slice(1, -1);
  return shown.length > 80 ? `${shown.slice(0, 77)}...` : shown;
}
