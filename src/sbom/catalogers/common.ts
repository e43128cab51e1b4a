// Helpers the language catalogers share: parsing JSON they were given without throwing, and making a
// component with its location.
import type { Component, Ecosystem } from "../model.ts";
import type { TreeFile } from "../tree.ts";
import type { CatalogContext } from "./cataloger.ts";

/** A file's JSON, or undefined with a warning naming the layer and path. */
export function readJson(file: TreeFile, context: CatalogContext): unknown {
  try {
    return JSON.parse(file.content!.toString("utf8"));
  } catch (e) {
    context.warn(`${where(file)}not valid JSON (${(e as Error).message}); skipped`);
    return undefined;
  }
}

export function where(file: TreeFile): string {
  return `${file.layer ? `layer ${file.layer}: ` : ""}${file.path}: `;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

export function component(
  file: TreeFile,
  fields: {
    name: string;
    version: string;
    ecosystem: Ecosystem;
    purl: string;
    foundBy: string;
    licenses?: (string | undefined)[];
    scope?: Component["scope"];
    cpes?: string[];
  },
): Component {
  const licenses = (fields.licenses ?? []).filter((l): l is string => typeof l === "string" && l.trim() !== "").map((l) => l.trim());
  return {
    name: fields.name,
    version: fields.version,
    ecosystem: fields.ecosystem,
    purl: fields.purl,
    ...(fields.cpes && fields.cpes.length > 0 && { cpes: fields.cpes }),
    ...(licenses.length > 0 && { licenses }),
    ...(fields.scope && { scope: fields.scope }),
    foundBy: fields.foundBy,
    locations: [{ ...(file.layer && { layer: file.layer }), path: file.path }],
  };
}
