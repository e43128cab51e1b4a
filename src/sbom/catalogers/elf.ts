// The little of ELF the binary catalogers need: is it ELF, and the bytes of a named section. Every
// offset read from the file is checked against its length.

export function isElf(bytes: Buffer): boolean {
  return bytes.length >= 64 && bytes.readUInt32BE(0) === 0x7f454c46;
}

/** The bytes of section `name`, or undefined when the file has no such section (or no section table). */
export function elfSection(bytes: Buffer, name: string): Buffer | undefined {
  if (!isElf(bytes)) return undefined;
  const is64 = bytes[4] === 2;
  const le = bytes[5] === 1;
  const u16 = (o: number) => (le ? bytes.readUInt16LE(o) : bytes.readUInt16BE(o));
  const u32 = (o: number) => (le ? bytes.readUInt32LE(o) : bytes.readUInt32BE(o));
  const word = (o: number) => (is64 ? Number(le ? bytes.readBigUInt64LE(o) : bytes.readBigUInt64BE(o)) : u32(o));
  const shoff = word(is64 ? 0x28 : 0x20);
  const shentsize = u16(is64 ? 0x3a : 0x2e);
  const shnum = u16(is64 ? 0x3c : 0x30);
  const shstrndx = u16(is64 ? 0x3e : 0x32);
  if (shoff === 0 || shnum === 0 || shstrndx >= shnum || shentsize < (is64 ? 64 : 40) || shoff + shnum * shentsize > bytes.length)
    return undefined;
  const header = (i: number) => {
    const at = shoff + i * shentsize;
    return { name: u32(at), offset: word(at + (is64 ? 0x18 : 0x10)), size: word(at + (is64 ? 0x20 : 0x14)) };
  };
  const strtab = header(shstrndx);
  if (strtab.offset + strtab.size > bytes.length) return undefined;
  for (let i = 0; i < shnum; i++) {
    const h = header(i);
    const start = strtab.offset + h.name;
    if (start >= strtab.offset + strtab.size) continue;
    const end = bytes.indexOf(0, start);
    if (bytes.toString("latin1", start, end < 0 ? start : end) !== name) continue;
    if (h.offset + h.size > bytes.length) return undefined;
    return bytes.subarray(h.offset, h.offset + h.size);
  }
  return undefined;
}
