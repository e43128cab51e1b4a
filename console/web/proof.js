// @ts-check
// Verification done in the browser, with WebCrypto only: an entry's leaf hash over its exact bytes, its
// RFC 9162 inclusion proof (§2.1.3.2) up to a root, and the C2SP checkpoint that root must be: a signed
// note whose Ed25519 signature verifies with the audit log's verifier key (NAME+HASH+BASE64). The
// console server verified the same before answering; this checks it did not lie.

const encoder = new TextEncoder();

/** @param {...Uint8Array} parts */
async function sha256(...parts) {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) all.set(p, (at += p.length) - p.length);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", all));
}

/** @param {string} hex */
export function fromHex(hex) {
  if (!/^([0-9a-f]{2})*$/.test(hex)) throw new Error(`not hex: ${hex.slice(0, 16)}`);
  return new Uint8Array(hex.match(/../g)?.map((b) => parseInt(b, 16)) ?? []);
}

/** @param {Uint8Array} bytes */
export const toHex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

/** Base64 as the note format writes it: standard alphabet, padded; any other spelling is refused. @param {string} text */
function fromBase64(text) {
  if (!/^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) throw new Error("not base64");
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** @param {Uint8Array} a @param {Uint8Array} b */
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** RFC 9162 §2.1.1: a leaf is SHA-256(0x00 || data). @param {Uint8Array} data */
export const leafHash = (data) => sha256(Uint8Array.of(0), data);
/** @param {Uint8Array} left @param {Uint8Array} right */
const nodeHash = (left, right) => sha256(Uint8Array.of(1), left, right);

/**
 * RFC 9162 §2.1.3.2: the root an inclusion proof leads to.
 * @param {number} index @param {number} size @param {Uint8Array} leaf @param {Uint8Array[]} proof
 */
export async function rootFromInclusionProof(index, size, leaf, proof) {
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size))
    throw new Error(`entry ${index} is not in a tree of ${size} entries`);
  if ([leaf, ...proof].some((h) => h.length !== 32)) throw new Error("a proof hash is not 32 bytes");
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  const half = (/** @type {number} */ n) => Math.floor(n / 2);
  for (const p of proof) {
    if (sn === 0) throw new Error("the proof is longer than the tree is deep");
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else r = await nodeHash(r, p);
    [fn, sn] = [half(fn), half(sn)];
  }
  if (sn !== 0) throw new Error("the proof is shorter than the tree is deep");
  return r;
}

/** NAME+HASH+BASE64(0x01 || Ed25519 public key), its hash checked. @param {string} key */
async function parseVerifierKey(key) {
  const [name, hash, ...rest] = key.trim().split("+");
  if (!name || !hash || !/^[0-9a-f]{8}$/.test(hash)) throw new Error(`not a verifier key: ${key.slice(0, 40)}`);
  const data = fromBase64(rest.join("+"));
  if (data.length !== 33 || data[0] !== 1) throw new Error("the verifier key is not an Ed25519 key");
  const computed = (await sha256(encoder.encode(`${name}\n`), data)).slice(0, 4);
  if (toHex(computed) !== hash) throw new Error("the verifier key's hash does not match its name and key");
  return { name, keyHash: computed, publicKey: data.slice(1) };
}

/**
 * The checkpoint's size and root, once the log's signature on it verifies.
 * @param {string} note @param {string} verifierKey
 */
export async function openCheckpoint(note, verifierKey) {
  const key = await parseVerifierKey(verifierKey);
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new Error("the checkpoint is not a signed note");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2).split("\n");
  if (lines.pop() !== "") throw new Error("the checkpoint's signature lines do not end with a newline");
  const publicKey = await crypto.subtle.importKey("raw", key.publicKey, { name: "Ed25519" }, false, ["verify"]);
  let verified = false;
  for (const line of lines) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m || m[1] !== key.name) continue;
    const blob = fromBase64(/** @type {string} */ (m[2]));
    if (blob.length !== 68 || !equal(blob.slice(0, 4), key.keyHash)) continue;
    if (!(await crypto.subtle.verify({ name: "Ed25519" }, publicKey, blob.slice(4), encoder.encode(text))))
      throw new Error(`the signature by ${key.name} does not verify: the checkpoint was changed after signing`);
    verified = true;
  }
  if (!verified) throw new Error(`the checkpoint is not signed by ${verifierKey.split("+").slice(0, 2).join("+")}`);
  const [origin, sizeLine, rootLine] = text.split("\n");
  if (origin !== key.name) throw new Error(`the checkpoint's origin ${origin} is not the key's name ${key.name}`);
  if (!sizeLine || !/^(0|[1-9][0-9]{0,15})$/.test(sizeLine)) throw new Error("the checkpoint's size is not a decimal number");
  const root = fromBase64(rootLine ?? "");
  if (root.length !== 32) throw new Error("the checkpoint's root is not 32 bytes");
  return { size: Number(sizeLine), root };
}

/**
 * An entry as the API gives it (its bytes and inclusion proof) checked against a checkpoint note.
 * @param {{ index: number, data: string, leafHash: string, proof: { index: number, treeSize: number, leafHash: string, hashes: string[] } }} entry
 * @param {string} note @param {string} verifierKey
 * @returns {Promise<{ ok: true, size: number } | { ok: false, reason: string }>}
 */
export async function verifyEntry(entry, note, verifierKey) {
  try {
    const leaf = await leafHash(encoder.encode(entry.data));
    if (toHex(leaf) !== entry.leafHash || entry.proof.leafHash !== entry.leafHash)
      throw new Error(`entry ${entry.index}: its bytes do not hash to its leaf hash`);
    if (entry.proof.index !== entry.index) throw new Error(`the proof is for entry ${entry.proof.index}, not ${entry.index}`);
    const checkpoint = await openCheckpoint(note, verifierKey);
    if (checkpoint.size !== entry.proof.treeSize)
      throw new Error(`the proof is for a tree of ${entry.proof.treeSize} entries, the checkpoint has ${checkpoint.size}`);
    const root = await rootFromInclusionProof(entry.index, entry.proof.treeSize, leaf, entry.proof.hashes.map(fromHex));
    if (!equal(root, checkpoint.root))
      throw new Error(
        `entry ${entry.index}: the proof leads to root ${toHex(root).slice(0, 16)}…, not the checkpoint's ${toHex(checkpoint.root).slice(0, 16)}…`,
      );
    return { ok: true, size: checkpoint.size };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
}
