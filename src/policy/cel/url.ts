// Kubernetes' URL library: url(), isURL() and the accessors, with the semantics of Go's
// net/url.ParseRequestURI that Kubernetes uses (an absolute URI or an absolute path, no fragment).
import { celFunc, celMethod, CelScalar, listType, mapType } from "@bufbuild/cel";
import { opaque, OPAQUE, requireOpaque, succeeds } from "./opaque.ts";

const { STRING, BOOL } = CelScalar;

export interface ParsedURL {
  scheme: string;
  opaque: string;
  host: string;
  path: string; // unescaped
  rawPath: string; // as written, when it differs from the escaping of `path`
  rawQuery: string;
}

const isAlpha = (c: string) => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");
const isAlphanumeric = (c: string) => isAlpha(c) || (c >= "0" && c <= "9");

type Mode = "path" | "host" | "userinfo" | "queryComponent";

/** Go's shouldEscape for the URL components used here. */
function shouldEscape(c: string, mode: Mode): boolean {
  if (isAlphanumeric(c) || "-_.~".includes(c)) return false;
  if (mode === "host") return !"!$&'()*+,;=:[]<>\"".includes(c);
  if (mode === "path" && "$&+,/:;=?@".includes(c)) return c === "?";
  return true;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Percent-decoding with Go's rules per component; throws on a malformed escape. */
function unescape(text: string, mode: Mode): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; ) {
    const c = text[i]!;
    if (c === "%") {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Error(`invalid URL escape ${JSON.stringify(text.slice(i, i + 3))}`);
      const value = parseInt(hex, 16);
      // In a host only non-ASCII bytes and %25 (the zone separator) may be escaped.
      if (mode === "host" && value < 0x80 && hex !== "25") throw new Error(`invalid URL escape ${JSON.stringify(text.slice(i, i + 3))}`);
      bytes.push(value);
      i += 3;
      continue;
    }
    if (mode === "host" && c < "\x80" && shouldEscape(c, "host")) throw new Error(`invalid character ${JSON.stringify(c)} in host name`);
    if (c === "+" && mode === "queryComponent") bytes.push(0x20);
    else bytes.push(...utf8.encode(c));
    i += 1;
  }
  return fromUtf8.decode(new Uint8Array(bytes));
}

function escape(text: string, mode: Mode): string {
  let out = "";
  for (const byte of utf8.encode(text)) {
    const c = String.fromCharCode(byte);
    out += byte < 0x80 && !shouldEscape(c, mode) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function validEncodedPath(text: string): boolean {
  return [...text].every((c) => "!$&'()*+,;=:@[]%".includes(c) || (c < "\x80" && !shouldEscape(c, "path")));
}

const validOptionalPort = (port: string) => port === "" || /^:[0-9]*$/.test(port);

function parseHost(host: string): string {
  if (host.startsWith("[")) {
    const close = host.lastIndexOf("]");
    if (close < 0) throw new Error("missing ']' in host");
    const port = host.slice(close + 1);
    if (!validOptionalPort(port)) throw new Error(`invalid port ${JSON.stringify(port)} after host`);
  } else {
    const colon = host.lastIndexOf(":");
    if (colon >= 0 && !validOptionalPort(host.slice(colon)))
      throw new Error(`invalid port ${JSON.stringify(host.slice(colon))} after host`);
  }
  return unescape(host, "host");
}

function parseAuthority(authority: string): string {
  const at = authority.lastIndexOf("@");
  const host = parseHost(authority.slice(at + 1));
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    if (![...userinfo].every((c) => isAlphanumeric(c) || "-._:~!$&'()*+,;=%@".includes(c))) throw new Error("net/url: invalid userinfo");
    unescape(userinfo, "userinfo");
  }
  return host;
}

/** Go's url.ParseRequestURI; throws an Error whose message matches Go's `parse "…": …`. */
export function parseRequestURI(raw: string): ParsedURL {
  try {
    return parseRequestURIUnwrapped(raw);
  } catch (e) {
    throw new Error(`parse ${JSON.stringify(raw)}: ${(e as Error).message}`);
  }
}

function parseRequestURIUnwrapped(raw: string): ParsedURL {
  if (/[\x00-\x1f\x7f]/.test(raw)) throw new Error("net/url: invalid control character in URL");
  if (raw === "") throw new Error("empty url");
  const url: ParsedURL = { scheme: "", opaque: "", host: "", path: "", rawPath: "", rawQuery: "" };
  if (raw === "*") return { ...url, path: "*" };
  let rest = raw;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (isAlpha(c)) continue;
    if (isAlphanumeric(c) || c === "+" || c === "-" || c === ".") {
      if (i === 0) break;
      continue;
    }
    if (c === ":") {
      if (i === 0) throw new Error("missing protocol scheme");
      url.scheme = raw.slice(0, i).toLowerCase();
      rest = raw.slice(i + 1);
    }
    break;
  }
  if (rest.endsWith("?") && rest.indexOf("?") === rest.length - 1) {
    rest = rest.slice(0, -1);
  } else {
    const question = rest.indexOf("?");
    if (question >= 0) [rest, url.rawQuery] = [rest.slice(0, question), rest.slice(question + 1)];
  }
  if (!rest.startsWith("/")) {
    if (url.scheme !== "") return { ...url, opaque: rest };
    throw new Error("invalid URI for request");
  }
  if (url.scheme !== "" && rest.startsWith("//")) {
    const slash = rest.indexOf("/", 2);
    const authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
    rest = slash < 0 ? "" : rest.slice(slash);
    url.host = parseAuthority(authority);
  }
  url.path = unescape(rest, "path");
  url.rawPath = escape(url.path, "path") === rest ? "" : rest;
  return url;
}

/** Go's URL.EscapedPath: the path as written when that is a valid encoding of it, else re-escaped. */
function escapedPath(url: ParsedURL): string {
  if (url.rawPath !== "" && validEncodedPath(url.rawPath)) {
    try {
      if (unescape(url.rawPath, "path") === url.path) return url.rawPath;
    } catch {
      // fall through to escaping the decoded path
    }
  }
  if (url.path === "*") return "*";
  return escape(url.path, "path");
}

/** Go's splitHostPort as used by URL.Hostname and URL.Port. */
function splitHostPort(hostPort: string): { hostname: string; port: string } {
  let hostname = hostPort;
  let port = "";
  const colon = hostPort.lastIndexOf(":");
  if (colon >= 0 && validOptionalPort(hostPort.slice(colon))) [hostname, port] = [hostPort.slice(0, colon), hostPort.slice(colon + 1)];
  if (hostname.startsWith("[") && hostname.endsWith("]")) hostname = hostname.slice(1, -1);
  return { hostname, port };
}

/** Go's url.ParseQuery, keeping what parses and dropping what does not (as URL.Query does). */
function parseQuery(rawQuery: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  for (const pair of rawQuery.split("&")) {
    if (pair === "" || pair.includes(";")) continue;
    const equals = pair.indexOf("=");
    const [rawKey, rawValue] = equals < 0 ? [pair, ""] : [pair.slice(0, equals), pair.slice(equals + 1)];
    try {
      const key = unescape(rawKey, "queryComponent");
      const value = unescape(rawValue, "queryComponent");
      values.set(key, [...(values.get(key) ?? []), value]);
    } catch {
      // a malformed pair is skipped
    }
  }
  return values;
}

// The payload is the URL as written: parsing is deterministic, so equal text means equal URLs.
const urlOf = (value: unknown) => parseRequestURI(requireOpaque("url", value) as string);

const accessor = (name: string, get: (url: ParsedURL) => string) =>
  celMethod(name, OPAQUE, [], STRING, function () {
    return get(urlOf(this));
  });

export const urlFunctions = [
  celFunc("url", [STRING], OPAQUE, (text) => {
    try {
      parseRequestURI(text);
    } catch (e) {
      throw new Error(`URL parse error during conversion from string: ${(e as Error).message}`);
    }
    return opaque("url", text);
  }),
  celFunc("isURL", [STRING], BOOL, (text) => succeeds(() => parseRequestURI(text))),
  accessor("getScheme", (url) => url.scheme),
  accessor("getHost", (url) => url.host),
  accessor("getHostname", (url) => splitHostPort(url.host).hostname),
  accessor("getPort", (url) => splitHostPort(url.host).port),
  accessor("getEscapedPath", escapedPath),
  celMethod("getQuery", OPAQUE, [], mapType(STRING, listType(STRING)), function () {
    return parseQuery(urlOf(this).rawQuery);
  }),
];
