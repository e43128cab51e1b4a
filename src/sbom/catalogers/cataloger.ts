// A cataloger: which files it wants, and the components it finds in them.
import type { Component, OsRelease } from "../model.ts";
import type { FileTree, Interest } from "../tree.ts";

export interface FileInfo {
  /** Permission bits (executables are analysed as binaries). */
  mode: number;
  size: number;
}

export interface CatalogContext {
  os: OsRelease | undefined;
  warn(message: string): void;
}

export interface Cataloger {
  name: string;
  wants(path: string, info: FileInfo): Interest | undefined;
  /** For files it wants analysed: the components in their bytes (`layer` is for their locations). */
  analyse?(path: string, bytes: Buffer, layer: string | undefined, warn: (message: string) => void): Component[];
  /** The components in the files gathered. */
  catalog(tree: FileTree, context: CatalogContext): Component[];
}

/** The file name of a path. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The directory of a path. */
export function dirName(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}
