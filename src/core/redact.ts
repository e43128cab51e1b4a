// Credentials are never printed. A repository URL may carry a token (https://x-access-token:TOKEN@host/…),
// and it travels into verdict subjects, error messages, logs, Events and the audit log; every one of those
// passes its text through redactCredentials first. The rules, chosen to fail closed:
//
// - The userinfo of every scheme://userinfo@host URL in the text is replaced by "***", whatever it holds:
//   a token may contain any character, "@" included, so the userinfo runs to the LAST "@" of the URL (a
//   URL ends at whitespace or a quote). A path that itself contains "@" is then blanked up to there too:
//   showing less of a path is harmless, showing part of a token is not. The one exception: when what
//   follows "scheme://" up to the first "/" is a plain host (and port) with no "@", the URL has no
//   userinfo at all, and a later "@" is the path's (a Sigstore workflow identity such as
//   https://github.com/org/repo/.github/workflows/ci.yml@refs/heads/main must stay readable).
// - ssh:// URLs keep a plain user name ("git@"): SSH never takes a password in a URL, and the user name
//   says which account the deploy key is for. Anything else there ("user:secret@") is blanked.
// - scp-like "git@host:org/repo.git" is left as it is, for the same reason (it cannot hold a password).
// - Query parameters that carry credentials (token=, access_token=, private_token=, password=, secret=,
//   api_key=, sig=…) keep their name and lose their value.

const REDACTED = "***";

/** Where a URL ends inside a message, a log line or JSON text. */
const urlEnd = /[\s"'`<>\\]/g;
const schemeBefore = /[a-z][a-z0-9+.-]*$/i;
const sshUserName = /^[A-Za-z0-9._-]+$/;
const queryParameter = /([?&])([a-z0-9_.-]+)=([^&#\s"'`<>\\]*)/gi;
const credentialName = /(token|password|passwd|pwd|secret|api[_-]?key|apikey|^key|^sig|signature|^auth|credentials?)$/i;

/** `text` with every credential a URL in it carries blanked out. Linear in the text's length. */
export function redactCredentials(text: string): string {
  return redactQueryCredentials(redactUserinfo(text));
}

function redactUserinfo(text: string): string {
  let out = "";
  let done = 0;
  for (let at = text.indexOf("://"); at !== -1; at = text.indexOf("://", at + 3)) {
    const scheme = schemeBefore.exec(text.slice(Math.max(done, at - 32), at))?.[0];
    if (!scheme) continue;
    const start = at + 3;
    const end = endOfUrl(text, start);
    if (plainHost.test(text.slice(start, authorityEnd(text, start, end)))) {
      at = Math.max(at, end - 3);
      continue;
    }
    // The last "@" of the URL: a token may itself contain "@".
    const lastAt = lastIndexWithin(text, "@", start, end);
    if (lastAt !== -1) {
      const userinfo = text.slice(start, lastAt);
      const keep = /^(git\+)?ssh$/i.test(scheme) && sshUserName.test(userinfo);
      if (!keep) {
        out += text.slice(done, start) + REDACTED;
        done = lastAt;
      }
    }
    at = Math.max(at, end - 3);
  }
  return out + text.slice(done);
}

/**
 * A host name with a dot (or localhost), or an IP literal, and an optional port: an authority with no
 * userinfo. A bare token holding a raw "/" ("https://abc/def@host/…") does not look like one.
 */
const plainHost = /^(\[[0-9A-Fa-f:.]+\]|localhost|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)(:[0-9]{1,5})?$/;

/** Where the authority would end by RFC 3986: the first "/", "?" or "#" after "scheme://". */
function authorityEnd(text: string, start: number, end: number): number {
  for (let i = start; i < end; i++) if (text[i] === "/" || text[i] === "?" || text[i] === "#") return i;
  return end;
}

function endOfUrl(text: string, from: number): number {
  urlEnd.lastIndex = from;
  return urlEnd.exec(text)?.index ?? text.length;
}

function lastIndexWithin(text: string, char: string, start: number, end: number): number {
  for (let i = end - 1; i >= start; i--) if (text[i] === char) return i;
  return -1;
}

/** `text` with the values of credential query parameters blanked, URL userinfo left as it is. */
export function redactQueryCredentials(text: string): string {
  return text.replace(queryParameter, (whole, sep: string, name: string) =>
    credentialName.test(name) ? `${sep}${name}=${REDACTED}` : whole,
  );
}

/** A copy of a record of strings with every value redacted (a verdict's subject). */
export function redactValues<T extends Record<string, string | undefined>>(values: T): T {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v === undefined ? v : redactCredentials(v)])) as T;
}

/**
 * Every string inside a JSON-shaped value, redacted: for records whose messages quote URLs and errors
 * (an audit record is kept for ever, so a token in it would be too).
 */
export function redactDeep<T>(value: T): T {
  if (typeof value === "string") return redactCredentials(value) as T;
  if (Array.isArray(value)) return value.map(redactDeep) as T;
  if (value !== null && typeof value === "object" && !(value instanceof Date) && !Buffer.isBuffer(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T;
  }
  return value;
}
