// Reading OSV's all.zip exports entry by entry (yauzl streams each entry from the central directory),
// with a cap on every entry's size so a zip bomb or an endless entry costs bounded memory. A truncated
// or damaged zip is bad input naming the file.
import yauzl from "yauzl";
import { InputError } from "../core/errors.ts";

/** The largest advisory read from a zip; real ones are kilobytes, the largest few hundred. */
export const MAX_ENTRY_BYTES = 16 * 1024 * 1024;

export interface ZipEntry {
  name: string;
  read(): Promise<Buffer>;
}

export async function* zipEntries(path: string): AsyncGenerator<ZipEntry> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(path, { lazyEntries: true, autoClose: true, strictFileNames: true, validateEntrySizes: true }, (err, z) =>
      err ? reject(damaged(path, err)) : resolve(z!),
    ),
  );
  try {
    for (;;) {
      const entry = await new Promise<yauzl.Entry | null>((resolve, reject) => {
        const onEntry = (e: yauzl.Entry) => done(() => resolve(e));
        const onEnd = () => done(() => resolve(null));
        const onError = (err: Error) => done(() => reject(damaged(path, err)));
        const done = (f: () => void) => {
          zip.off("entry", onEntry).off("end", onEnd).off("error", onError);
          f();
        };
        zip.on("entry", onEntry).on("end", onEnd).on("error", onError);
        zip.readEntry();
      });
      if (!entry) return;
      if (entry.fileName.endsWith("/")) continue;
      yield {
        name: entry.fileName,
        read: () => readEntry(zip, entry, path),
      };
    }
  } finally {
    zip.close();
  }
}

function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, path: string): Promise<Buffer> {
  if (entry.uncompressedSize > MAX_ENTRY_BYTES) {
    return Promise.reject(
      new InputError(
        `${path}: entry ${JSON.stringify(entry.fileName)} is ${entry.uncompressedSize} bytes, over the ${MAX_ENTRY_BYTES}-byte cap for one advisory`,
      ),
    );
  }
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => {
      if (err) return reject(damaged(path, err));
      const chunks: Buffer[] = [];
      let size = 0;
      stream!.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_ENTRY_BYTES) stream!.destroy(new Error(`entry ${entry.fileName} grows past ${MAX_ENTRY_BYTES} bytes`));
        else chunks.push(c);
      });
      stream!.on("error", (e) => reject(damaged(path, e)));
      stream!.on("end", () => resolve(Buffer.concat(chunks)));
    });
  });
}

function damaged(path: string, err: Error): InputError {
  return new InputError(`${path}: not a readable zip (truncated or damaged): ${err.message}`);
}
