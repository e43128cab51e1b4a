// Bounds on what an image or directory may make Vigil read, so that a tar bomb, a gzip bomb or a huge
// file costs bounded time and memory: past a bound, a layer is refused (exit 2, naming it) or a file is
// skipped with a warning naming its layer and path.

export interface ReadLimits {
  /** Largest manifest, lock file or database kept in memory. */
  maxFileBytes: number;
  /** Largest binary or Java archive analysed (held in memory while it is). */
  maxAnalysedBytes: number;
  /** Most bytes one layer may decompress to. */
  maxLayerBytes: number;
  /** Most entries one layer (or directory walk) may have. */
  maxEntries: number;
}

export const DEFAULT_LIMITS: ReadLimits = {
  maxFileBytes: 64 << 20,
  maxAnalysedBytes: 512 << 20,
  maxLayerBytes: 32 * 1024 ** 3,
  maxEntries: 2_000_000,
};

export function formatSize(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}
