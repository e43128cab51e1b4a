// Git's object store read in-process: loose objects and every pack of the repository, each object's
// bytes checked against its id (SHA-1 or SHA-256, as the repository is). Reading the walk's 40,000
// objects through `git cat-file --batch` cost a pipe round trip and a copy each; here a read is an index
// lookup, one pread and one inflate. What this reader does not handle (abbreviated ids, "<rev>:<path>",
// objects only in alternates, an index that is not v2) goes to git's own cat-file, started on first need.
// Replace refs never apply: objects are read as stored under the id asked for.
import { execFileSync } from "node:child_process";
import { hash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { constants, inflateSync } from "node:zlib";
import { CAT_FILE_LIMITS, CatFile, overCap, type CatFileLimits, type GitObject, type ObjectReader } from "./cat-file.ts";
import { gitEnv } from "./env.ts";
import { ObjectFormatError } from "./objects.ts";
import { PackFile, windowCache, type ObjectType, type SizeCheck, type Unpacked } from "./pack.ts";

const objectTypes = new Set<string>(["commit", "tree", "blob", "tag"]);

/** A REF_DELTA's base in another pack whose base is in yet another…: more hops than this is refused. */
const MAX_PACK_HOPS = 16;

/** How much of a loose object is inflated to read its header: its type and size come before its bytes. */
const LOOSE_HEADER_INPUT = 1024;

/** Whether an id is lowercase hex (a loop: this runs for every object the walk reads). */
function isLowerHex(id: string): boolean {
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** A repository's object format and objects directory, as git names them. */
export interface ObjectLayout {
  format: string;
  objectsDir: string;
}

function objectLayout(gitDir: string): ObjectLayout {
  const [format, objectsDir] = execFileSync("git", ["--git-dir", gitDir, "rev-parse", "--show-object-format", "--git-path", "objects"], {
    env: gitEnv,
    encoding: "utf8",
  })
    .trim()
    .split("\n");
  return { format: format!, objectsDir: objectsDir! };
}

export class ObjectStore implements ObjectReader {
  readonly gitDir: string;
  private readonly objectsDir: string;
  private readonly hashLength: number;
  private readonly hashName: "sha1" | "sha256";
  private readonly limits: CatFileLimits;
  private packs = new Map<string, PackFile>();
  /** 32 MiB of pack windows at most, whatever the number of packs. */
  private readonly windows = windowCache();
  private packsOpened = 0;
  /** Index files that are not git's v2 (or not readable): their objects are left to git. */
  private readonly unreadablePacks = new Set<string>();
  private packListing = "";
  private fallback: CatFile | null = null;
  private closed = false;

  /**
   * `layout` is what `git rev-parse --show-object-format --git-path objects` says of `gitDir`, when the
   * caller has asked git already (openRepo asks it with the git directory, one process fewer); without
   * it, git is asked here.
   */
  constructor(gitDir: string, limits: Partial<CatFileLimits> = {}, layout?: ObjectLayout) {
    this.gitDir = gitDir;
    this.limits = { ...CAT_FILE_LIMITS, ...limits };
    // git names the hash and where the objects are (a worktree's are in the common directory).
    const { format, objectsDir } = layout ?? objectLayout(gitDir);
    if (format !== "sha1" && format !== "sha256")
      throw new ObjectFormatError(`${gitDir}: object format ${JSON.stringify(format)} is not one Vigil reads`);
    this.hashName = format;
    this.hashLength = format === "sha1" ? 20 : 32;
    this.objectsDir = resolve(objectsDir);
    this.scanPacks();
  }

  read(rev: string, maxBytes?: number): Promise<GitObject | null> {
    try {
      const found = this.readNow(rev, maxBytes);
      return found ? Promise.resolve(found) : this.git().read(rev, maxBytes);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** An object this store reads itself (a full id in a pack or a loose file); undefined leaves it to git's cat-file. */
  readNow(rev: string, maxBytes?: number): GitObject | undefined {
    if (this.closed) throw new Error("object store closed");
    if (rev.length !== this.hashLength * 2 || !isLowerHex(rev)) return undefined;
    return this.readId(rev, maxBytes) ?? undefined;
  }

  close(): void {
    this.closed = true;
    this.fallback?.close();
    for (const pack of this.packs.values()) pack.close();
    this.packs.clear();
  }

  /** git's cat-file, for what is not read here; it sees the same objects, replace refs off. */
  private git(): CatFile {
    this.fallback ??= new CatFile(this.gitDir, this.limits);
    return this.fallback;
  }

  /** The object, checked against its id; null when neither a pack nor a loose file holds it (after a rescan for new packs). */
  private readId(id: string, maxBytes: number | undefined): GitObject | null {
    const rawId = Buffer.from(id, "hex");
    const check: SizeCheck = (type, size, onTheWay) => {
      const refusal = overCap(this.limits, id, onTheWay ? "blob" : type, size, onTheWay ? undefined : maxBytes);
      if (refusal) throw refusal;
    };
    let object = this.readRaw(rawId, check, 0);
    if (!object && this.scanPacks()) object = this.readRaw(rawId, check, 0);
    if (!object) return null;
    if (object.type === "commit" || object.type === "tag") this.verifyId(id, rawId, object);
    return { id, type: object.type, data: object.data };
  }

  private readRaw(rawId: Buffer, check: SizeCheck, hops: number): Unpacked | null {
    if (hops > MAX_PACK_HOPS)
      throw new ObjectFormatError(`object ${rawId.toString("hex")} is a delta through more than ${MAX_PACK_HOPS} packs`);
    for (const pack of this.packs.values()) {
      const position = pack.find(rawId);
      if (position >= 0) return pack.readAt(position, check, (baseId) => this.readBase(baseId, hops + 1));
    }
    return this.readLoose(rawId.toString("hex"), check);
  }

  /** A delta's base from another pack or a loose file, checked against its own id like any object. */
  private readBase(rawId: Buffer, hops: number): Unpacked | null {
    const id = rawId.toString("hex");
    return this.readRaw(
      rawId,
      (_type, size) => {
        const refusal = overCap(this.limits, id, "blob", size);
        if (refusal) throw refusal;
      },
      hops,
    );
  }

  /**
   * A commit's or tag's bytes must hash to the id they were found under: the id is what is signed over,
   * pinned and recorded, so a swapped or damaged one is refused, not read. Trees and blobs are read as
   * git reads them, unchecked (git's own reads do not hash them either, and a fetched pack's index is
   * written by index-pack from the content itself); hashing them would double the walk's reading cost.
   */
  private verifyId(id: string, rawId: Buffer, object: Unpacked): void {
    // One-shot hashing: a Hash object per commit costs more than hashing its few hundred bytes.
    const header = `${object.type} ${object.data.length}\0`;
    const hashed = Buffer.allocUnsafe(header.length + object.data.length);
    hashed.write(header, 0, "latin1");
    object.data.copy(hashed, header.length);
    const actual = hash(this.hashName, hashed, "buffer");
    if (!actual.equals(rawId)) {
      throw new ObjectFormatError(
        `object ${id} holds a ${object.type} whose ${this.hashName} is ${actual.toString("hex")}: the repository is damaged or was tampered with`,
        id,
      );
    }
  }

  /**
   * A loose object: "<type> <size>\0<bytes>", zlib-compressed. Its header is read from the first bytes
   * alone, so an object over its cap (or a decompression bomb) is refused before the rest is inflated.
   */
  private readLoose(id: string, check: SizeCheck): Unpacked | null {
    let file: Buffer;
    try {
      file = readFileSync(join(this.objectsDir, id.slice(0, 2), id.slice(2)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw e;
    }
    const corrupt = (what: string) => new ObjectFormatError(`loose object ${id} cannot be read: ${what}`, id);
    let head: Buffer;
    try {
      head = inflateSync(file.subarray(0, LOOSE_HEADER_INPUT), { finishFlush: constants.Z_SYNC_FLUSH });
    } catch {
      throw corrupt("it is not zlib data");
    }
    const nul = head.indexOf(0);
    const m = nul < 0 || nul > 32 ? null : /^([a-z]+) (0|[1-9][0-9]*)$/.exec(head.toString("latin1", 0, nul));
    const size = Number(m?.[2]);
    if (!m || !objectTypes.has(m[1]!) || !Number.isSafeInteger(size)) throw corrupt('its header is not "<type> <size>"');
    const type = m[1] as ObjectType;
    check(type, size, false);
    let whole: Buffer;
    try {
      whole = inflateSync(file, { maxOutputLength: nul + 1 + size });
    } catch {
      throw corrupt(`it does not inflate to the ${size} bytes its header declares`);
    }
    if (whole.length !== nul + 1 + size)
      throw corrupt(`it inflates to ${whole.length - nul - 1} bytes, not the ${size} its header declares`);
    return { type, data: whole.subarray(nul + 1) };
  }

  /** Opens packs that appeared since the last scan and closes ones git removed; whether anything changed. */
  private scanPacks(): boolean {
    const packDir = join(this.objectsDir, "pack");
    let names: string[];
    try {
      names = readdirSync(packDir)
        .filter((n) => n.endsWith(".idx"))
        .sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") names = [];
      else throw e;
    }
    const listing = names.join("\n");
    if (listing === this.packListing) return false;
    this.packListing = listing;
    const next = new Map<string, PackFile>();
    for (const name of names) {
      const path = join(packDir, name);
      const open = this.packs.get(path);
      if (open) {
        next.set(path, open);
        continue;
      }
      if (this.unreadablePacks.has(path)) continue;
      try {
        next.set(path, new PackFile(path, this.hashLength, this.windows, this.packsOpened++));
      } catch (e) {
        // A pack being written (its .pack not there yet) or an old v1 index: git reads those objects.
        if (!(e instanceof ObjectFormatError) && (e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        this.unreadablePacks.add(path);
      }
    }
    for (const [path, pack] of this.packs) if (!next.has(path)) pack.close();
    this.packs = next;
    return true;
  }
}
