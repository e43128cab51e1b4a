// Base64 as Sigstore's formats write it: protobuf JSON and DSSE allow the standard and the URL-safe
// alphabets, with or without padding. Decoding is strict, since Buffer.from silently skips characters
// that are not base64 and stops at the first "=", which would let a mangled signature pass as shorter bytes.

import { InputError } from "../core/errors.ts";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/**
 * The bytes of a base64 string, or undefined when it is not well-formed base64 in one alphabet. Line
 * breaks are skipped, as Go's decoder (and so cosign and Rekor) skips them.
 */
export function decodeBase64(wrapped: string): Buffer | undefined {
  const text = wrapped.replace(/\r?\n/g, "");
  if (!BASE64.test(text) && !BASE64URL.test(text)) return undefined;
  const bare = text.replace(/=+$/, "");
  // A lone character in the last group of four carries less than a byte: the text was cut.
  if (bare.length % 4 === 1) return undefined;
  if (text.length !== bare.length && text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(bare.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  // Bits left over in the last character must be zero, or two spellings would decode to the same bytes.
  if (bytes.toString("base64").replace(/=+$/, "") !== bare.replace(/-/g, "+").replace(/_/g, "/")) return undefined;
  return bytes;
}

/** A JSON object with no fields but `allowed`; names the first unknown field. */
export function jsonObject(value: unknown, where: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new InputError(`${where} must be a JSON object`);
  const unknown = Object.keys(value).find((k) => !allowed.includes(k));
  if (unknown !== undefined) throw new InputError(`${where} has an unknown field "${unknown}" (allowed: ${allowed.join(", ")})`);
  return value as Record<string, unknown>;
}

export function base64Field(value: unknown, where: string): Buffer {
  if (typeof value !== "string") throw new InputError(`${where} must be a base64 string`);
  const bytes = decodeBase64(value);
  if (!bytes) throw new InputError(`${where} is not valid base64 (truncated or altered?)`);
  return bytes;
}
