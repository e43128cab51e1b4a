// Kubernetes' IP and CIDR libraries, parsed as strictly as Go's net/netip with Kubernetes' extra rules:
// no leading zeros in IPv4 octets, no IPv6 zones, no IPv4-mapped IPv6 addresses. Values travel as their
// canonical text ("2001:db8::1", "10.0.0.0/8"), so `==` compares them by value.
import { celFunc, celMethod, CelScalar } from "@bufbuild/cel";
import { opaque, OPAQUE, opaquePayload, requireOpaque, succeeds } from "./opaque.ts";

const { STRING, BOOL, INT } = CelScalar;

interface Address {
  readonly bytes: readonly number[]; // 4 for IPv4, 16 for IPv6
}

interface Prefix {
  readonly address: Address;
  readonly bits: number;
}

const isHex = (c: string) => /^[0-9a-fA-F]$/.test(c);

function parseIPv4(text: string): number[] {
  const fields = text.split(".");
  if (fields.length !== 4) throw new Error("IPv4 address must have four fields");
  return fields.map((field) => {
    if (!/^[0-9]{1,3}$/.test(field)) throw new Error(`invalid IPv4 field ${JSON.stringify(field)}`);
    if (field.length > 1 && field[0] === "0") throw new Error("IPv4 field has octet with leading zero");
    const value = Number(field);
    if (value > 255) throw new Error("IPv4 field has value >255");
    return value;
  });
}

function parseIPv6(text: string): number[] {
  if (text.includes("%")) throw new Error("zones are not allowed");
  const halves = text.split("::");
  if (halves.length > 2) throw new Error("multiple :: in address");
  const groups = (half: string, isLast: boolean): number[] => {
    if (half === "") return [];
    const bytes: number[] = [];
    const fields = half.split(":");
    fields.forEach((field, i) => {
      if (isLast && i === fields.length - 1 && field.includes(".")) {
        bytes.push(...parseIPv4(field));
        return;
      }
      if (field.length < 1 || field.length > 4 || ![...field].every(isHex)) throw new Error(`invalid IPv6 field ${JSON.stringify(field)}`);
      const value = parseInt(field, 16);
      bytes.push(value >> 8, value & 0xff);
    });
    return bytes;
  };
  const head = groups(halves[0]!, halves.length === 1);
  if (halves.length === 1) {
    if (head.length !== 16) throw new Error("IPv6 address has the wrong number of fields");
    return head;
  }
  const tail = groups(halves[1]!, true);
  if (head.length + tail.length > 14) throw new Error(":: must stand for at least one field");
  return [...head, ...new Array<number>(16 - head.length - tail.length).fill(0), ...tail];
}

const isIPv4Mapped = (b: readonly number[]) => b.length === 16 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;

/** Parses an IP address as Kubernetes does; throws with the reason. */
export function parseIP(text: string): Address {
  let bytes: number[];
  try {
    bytes = text.includes(":") ? parseIPv6(text) : parseIPv4(text);
  } catch (e) {
    throw new Error(`IP Address ${JSON.stringify(text)} parse error during conversion from string: ${(e as Error).message}`);
  }
  if (isIPv4Mapped(bytes)) throw new Error(`IPv4-mapped IPv6 address ${JSON.stringify(text)} is not allowed`);
  return { bytes };
}

/** Parses CIDR notation (address/bits); the address need not be masked, as in Kubernetes. */
export function parseCIDR(text: string): Prefix {
  const slash = text.lastIndexOf("/");
  const fail = (reason: string) =>
    new Error(`network address parse error during conversion from string: ${JSON.stringify(text)}: ${reason}`);
  if (slash < 0) throw fail("no '/'");
  const bitsText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]*)$/.test(bitsText)) throw fail(`bad bits after slash: ${JSON.stringify(bitsText)}`);
  const address = parseIP(text.slice(0, slash));
  const bits = Number(bitsText);
  if (bits > address.bytes.length * 8) throw fail("prefix length out of range");
  return { address, bits };
}

/** Go's netip text: dotted IPv4; IPv6 lower-case with the longest run of two or more zero fields as "::". */
function formatIP({ bytes }: Address): string {
  if (bytes.length === 4) return bytes.join(".");
  const fields = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && fields[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (from: number, to: number) =>
    fields
      .slice(from, to)
      .map((f) => f.toString(16))
      .join(":");
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

const formatCIDR = (p: Prefix) => `${formatIP(p.address)}/${p.bits}`;

function masked({ address, bits }: Prefix): Prefix {
  const bytes = address.bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
  return { address: { bytes }, bits };
}

function contains(prefix: Prefix, address: Address): boolean {
  if (prefix.address.bytes.length !== address.bytes.length) return false;
  return formatIP(masked(prefix).address) === formatIP(masked({ address, bits: prefix.bits }).address);
}

const ipValue = (address: Address) => opaque("ip", formatIP(address));
const cidrValue = (prefix: Prefix) => opaque("cidr", formatCIDR(prefix));
// Payloads are canonical text that parsed once already, so parsing again cannot fail.
const ipOf = (value: unknown) => parseIP(requireOpaque("ip", value) as string);
const cidrOf = (value: unknown) => parseCIDR(requireOpaque("cidr", value) as string);

const v4 = (a: Address) => a.bytes.length === 4;
const isUnspecified = (a: Address) => a.bytes.every((b) => b === 0);
const isLoopback = (a: Address) => (v4(a) ? a.bytes[0] === 127 : a.bytes.slice(0, 15).every((b) => b === 0) && a.bytes[15] === 1);
const isMulticast = (a: Address) => (v4(a) ? (a.bytes[0]! & 0xf0) === 0xe0 : a.bytes[0] === 0xff);
const isLinkLocalUnicast = (a: Address) =>
  v4(a) ? a.bytes[0] === 169 && a.bytes[1] === 254 : a.bytes[0] === 0xfe && (a.bytes[1]! & 0xc0) === 0x80;
const isLinkLocalMulticast = (a: Address) =>
  v4(a) ? a.bytes[0] === 224 && a.bytes[1] === 0 && a.bytes[2] === 0 : a.bytes[0] === 0xff && (a.bytes[1]! & 0x0f) === 0x02;
const isBroadcast = (a: Address) => v4(a) && a.bytes.every((b) => b === 255);
// As Go's netip: private and unique-local ranges count as global unicast.
const isGlobalUnicast = (a: Address) => !isBroadcast(a) && !isUnspecified(a) && !isLoopback(a) && !isMulticast(a) && !isLinkLocalUnicast(a);

const ipPredicate = (name: string, test: (a: Address) => boolean) =>
  celMethod(name, OPAQUE, [], BOOL, function () {
    return test(ipOf(this));
  });

export const ipFunctions = [
  celFunc("ip", [STRING], OPAQUE, (text) => ipValue(parseIP(text))),
  celFunc("isIP", [STRING], BOOL, (text) => succeeds(() => parseIP(text))),
  celFunc("ip.isCanonical", [STRING], BOOL, (text) => formatIP(parseIP(text)) === text),
  celMethod("family", OPAQUE, [], INT, function () {
    return v4(ipOf(this)) ? 4n : 6n;
  }),
  ipPredicate("isUnspecified", isUnspecified),
  ipPredicate("isLoopback", isLoopback),
  ipPredicate("isLinkLocalMulticast", isLinkLocalMulticast),
  ipPredicate("isLinkLocalUnicast", isLinkLocalUnicast),
  ipPredicate("isGlobalUnicast", isGlobalUnicast),
  celFunc("cidr", [STRING], OPAQUE, (text) => cidrValue(parseCIDR(text))),
  celFunc("isCIDR", [STRING], BOOL, (text) => succeeds(() => parseCIDR(text))),
  celMethod("containsIP", OPAQUE, [OPAQUE], BOOL, function (ip) {
    return contains(cidrOf(this), ipOf(ip));
  }),
  celMethod("containsIP", OPAQUE, [STRING], BOOL, function (text) {
    return contains(cidrOf(this), parseIP(text));
  }),
  celMethod("containsCIDR", OPAQUE, [OPAQUE], BOOL, function (other) {
    const inner = cidrOf(other);
    const outer = cidrOf(this);
    return outer.bits <= inner.bits && contains(outer, inner.address);
  }),
  celMethod("containsCIDR", OPAQUE, [STRING], BOOL, function (text) {
    const inner = parseCIDR(text);
    const outer = cidrOf(this);
    return outer.bits <= inner.bits && contains(outer, inner.address);
  }),
  celMethod("ip", OPAQUE, [], OPAQUE, function () {
    return ipValue(cidrOf(this).address);
  }),
  celMethod("masked", OPAQUE, [], OPAQUE, function () {
    return cidrValue(masked(cidrOf(this)));
  }),
  celMethod("prefixLength", OPAQUE, [], INT, function () {
    return BigInt(cidrOf(this).bits);
  }),
  // string(ip) and string(cidr): one overload for both, since both travel as the same CEL type.
  celFunc("string", [OPAQUE], STRING, (value) => {
    const text = opaquePayload("ip", value) ?? opaquePayload("cidr", value);
    if (typeof text !== "string") throw new Error("string() of a map: expected an ip or cidr value");
    return text;
  }),
];
