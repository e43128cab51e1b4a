// Shannon entropy of a candidate secret, in bits per character: random tokens score high (a 32-character
// base64 token is about 4.5-5), words, paths and placeholders low (about 2.5-3.5).

export function shannonEntropy(text: string): number {
  if (text.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}
