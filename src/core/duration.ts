import { InputError } from "./errors.ts";

const units: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "10m", "24h", "7d", or combinations like "1h30m", in milliseconds. */
export function parseDuration(text: string, where: string): number {
  const parts = [...text.matchAll(/(\d+)([smhd])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) {
    throw new InputError(`${where}: invalid duration "${text}" (use e.g. 90s, 10m, 24h, 7d)`);
  }
  return parts.reduce((ms, p) => ms + Number(p[1]) * units[p[2]!]!, 0);
}
