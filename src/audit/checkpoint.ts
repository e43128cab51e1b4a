// C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the signed note body that commits a log to
// its size and root. Three lines — the origin (the log's name), the tree size in decimal, the root hash
// in base64 — and no extension lines from Vigil; one from elsewhere is kept but not interpreted.
import { HASH_SIZE } from "./hash.ts";
import { openNote, signNote, type NoteSigner, type NoteVerifier } from "./note.ts";
import { IntegrityError } from "./proof.ts";

export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
  /** The signed note, exactly as stored: what a witness or another tool is given. */
  note: string;
}

export function formatCheckpointBody(origin: string, size: number, root: Buffer): string {
  return `${origin}\n${size}\n${root.toString("base64")}\n`;
}

export function signCheckpoint(signer: NoteSigner, size: number, root: Buffer): Checkpoint {
  const note = signNote(formatCheckpointBody(signer.name, size, root), signer);
  return { origin: signer.name, size, root, note };
}

/** Verifies the note's signature, then parses the body strictly. The origin must be the key's name. */
export function openCheckpoint(note: string, verifier: NoteVerifier): Checkpoint {
  const { text } = openNote(note, verifier);
  const body = parseCheckpointBody(text);
  if (body.origin !== verifier.name)
    throw new IntegrityError(`checkpoint origin "${body.origin}" is not the log's name "${verifier.name}"`);
  return { ...body, note };
}

/** A checkpoint's origin, size and root, strictly (any log's: Vigil's, or a Sigstore log's). */
export function parseCheckpointBody(text: string): Omit<Checkpoint, "note"> {
  const [origin = "", sizeLine, rootLine] = text.split("\n");
  const size = claimedSize(text);
  if (size === undefined) throw new IntegrityError(`checkpoint: tree size "${sizeLine ?? ""}" is not a decimal number`);
  const root = Buffer.from(rootLine ?? "", "base64");
  if (root.length !== HASH_SIZE || root.toString("base64") !== rootLine)
    throw new IntegrityError(`checkpoint: root hash "${rootLine ?? ""}" is not ${HASH_SIZE} bytes of base64`);
  return { origin, size, root };
}

/** The tree size a stored note claims, read without its signature (stores use it to find their end; the
 *  log verifies the signature before trusting anything else in it). */
export function claimedSize(note: string): number | undefined {
  const line = note.split("\n", 2)[1];
  return line !== undefined && /^(0|[1-9][0-9]{0,15})$/.test(line) && Number.isSafeInteger(Number(line)) ? Number(line) : undefined;
}
