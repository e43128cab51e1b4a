// RFC 8785 (JCS) canonical JSON: object members sorted by their names' UTF-16 code units, no
// whitespace, strings and numbers written as ECMAScript's JSON.stringify writes them (RFC 8785 §3.2.2
// defines them so). Written here rather than taken from the `canonicalize` package, which gives the
// same bytes (the tests compare the two) but took several times as long per record: the log
// canonicalizes every record when it is appended and again whenever it is read.
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case "string":
      if (!value.isWellFormed()) throw new TypeError("JCS: a string holds a lone surrogate");
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`JCS: ${value} is not a JSON number`);
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "object":
      if (value === null) return "null";
      return Array.isArray(value) ? canonicalArray(value) : canonicalObject(value as Record<string, unknown>);
    default:
      throw new TypeError(`JCS: a ${typeof value} has no JSON form`);
  }
}

function canonicalArray(items: readonly unknown[]): string {
  let out = "[";
  for (let i = 0; i < items.length; i++) out += (i > 0 ? "," : "") + (items[i] === undefined ? "null" : canonicalJson(items[i]));
  return out + "]";
}

/** Members whose value is undefined are left out, as JSON.stringify leaves them out. */
function canonicalObject(object: Record<string, unknown>): string {
  let out = "{";
  for (const key of Object.keys(object).sort()) {
    const member = object[key];
    if (member === undefined) continue;
    out += (out.length > 1 ? "," : "") + canonicalJson(key) + ":" + canonicalJson(member);
  }
  return out + "}";
}
