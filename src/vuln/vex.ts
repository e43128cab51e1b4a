// VEX: OpenVEX (v0.2.0, and v0.0.1 as go-vex's compatibility mode reads it) and CycloneDX VEX
// (vulnerabilities[].analysis) say that a product is not_affected (with a justification) or has the
// fix. Such a finding is suppressed, and stays in the output as suppressed with the statement's words.
// A statement applies to a component when it names one of the finding's ids or aliases and the
// component's purl (type, namespace and name; the version too when the product gives one, a leading
// "v" aside) or its bom-ref. Later statements override earlier ones, as OpenVEX orders them.
import { readFileSync } from "node:fs";
import { PackageURL } from "packageurl-js";
import { InputError } from "../core/errors.ts";

export type VexStatus = "not_affected" | "affected" | "fixed" | "under_investigation";

export interface VexStatement {
  vulnerabilities: string[];
  /** purls or bom-refs the statement is about (products, or their subcomponents when it lists them). */
  products: string[];
  status: VexStatus;
  justification?: string;
  impact?: string;
  /** The file it came from, and the statement's place in it. */
  source: string;
  /** Position across every document given, for "later overrides earlier". */
  order: number;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const MAX_VEX_BYTES = 64 * 1024 * 1024;

export function loadVex(path: string, start = 0): VexStatement[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new InputError(`${path}: cannot read the VEX document: ${(e as Error).message}`);
  }
  if (text.length > MAX_VEX_BYTES) throw new InputError(`${path}: over the ${MAX_VEX_BYTES}-byte cap for a VEX document`);
  return parseVex(text, path, start);
}

export function parseVex(text: string, path: string, start = 0): VexStatement[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${path}: not JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc)) throw new InputError(`${path}: not a JSON object`);
  if (typeof doc["@context"] === "string" && doc["@context"].startsWith("https://openvex.dev/ns")) return openVex(doc, path, start);
  if (doc.bomFormat === "CycloneDX") return cycloneDxVex(doc, path, start);
  throw new InputError(`${path}: neither OpenVEX (@context https://openvex.dev/ns…) nor CycloneDX (bomFormat)`);
}

const STATUSES: VexStatus[] = ["not_affected", "affected", "fixed", "under_investigation"];

function openVex(doc: Json, path: string, start: number): VexStatement[] {
  if (!Array.isArray(doc.statements)) throw new InputError(`${path}: statements is not a list`);
  return doc.statements.map((s, i) => {
    const where = `${path}: statements[${i}]`;
    if (!isObject(s)) throw new InputError(`${where} is not an object`);
    if (typeof s.status !== "string" || !STATUSES.includes(s.status as VexStatus))
      throw new InputError(`${where}.status ${JSON.stringify(s.status)} is not one of ${STATUSES.join(", ")}`);
    const vuln = s.vulnerability;
    const vulnerabilities =
      typeof vuln === "string"
        ? [vuln]
        : isObject(vuln)
          ? [vuln.name, ...(Array.isArray(vuln.aliases) ? vuln.aliases : [])].filter((x): x is string => typeof x === "string")
          : [];
    if (vulnerabilities.length === 0) throw new InputError(`${where}.vulnerability names no vulnerability`);
    if (!Array.isArray(s.products) || s.products.length === 0) throw new InputError(`${where}.products is not a non-empty list`);
    const products: string[] = [];
    for (const [j, p] of s.products.entries()) {
      if (typeof p === "string") products.push(p);
      else if (isObject(p) && typeof p["@id"] === "string") {
        const subs = Array.isArray(p.subcomponents)
          ? p.subcomponents.flatMap((c) => (isObject(c) && typeof c["@id"] === "string" ? [c["@id"]] : []))
          : [];
        // With subcomponents the statement is about those components inside the product.
        products.push(...(subs.length > 0 ? subs : [p["@id"]]));
        const ids = isObject(p.identifiers) ? Object.values(p.identifiers).filter((x): x is string => typeof x === "string") : [];
        if (subs.length === 0) products.push(...ids);
      } else throw new InputError(`${where}.products[${j}] has no @id`);
    }
    if (s.status === "not_affected" && typeof s.justification !== "string" && typeof s.impact_statement !== "string") {
      throw new InputError(`${where}: not_affected needs a justification or an impact_statement (OpenVEX)`);
    }
    return {
      vulnerabilities,
      products,
      status: s.status as VexStatus,
      ...(typeof s.justification === "string" && { justification: s.justification }),
      ...(typeof s.impact_statement === "string" && { impact: s.impact_statement }),
      source: `${path}#statements[${i}]`,
      order: start + i,
    };
  });
}

const CDX_STATES: Record<string, VexStatus> = {
  not_affected: "not_affected",
  false_positive: "not_affected",
  resolved: "fixed",
  resolved_with_pedigree: "fixed",
  exploitable: "affected",
  in_triage: "under_investigation",
};

function cycloneDxVex(doc: Json, path: string, start: number): VexStatement[] {
  const list = doc.vulnerabilities ?? [];
  if (!Array.isArray(list)) throw new InputError(`${path}: vulnerabilities is not a list`);
  const out: VexStatement[] = [];
  list.forEach((v, i) => {
    const where = `${path}: vulnerabilities[${i}]`;
    if (!isObject(v) || typeof v.id !== "string") throw new InputError(`${where} has no id`);
    if (!isObject(v.analysis)) return; // a vulnerability without analysis states nothing
    const state = v.analysis.state;
    if (typeof state !== "string" || !Object.hasOwn(CDX_STATES, state))
      throw new InputError(`${where}.analysis.state ${JSON.stringify(state)} is not a CycloneDX impact analysis state`);
    const affects = Array.isArray(v.affects) ? v.affects.flatMap((a) => (isObject(a) && typeof a.ref === "string" ? [a.ref] : [])) : [];
    if (affects.length === 0) throw new InputError(`${where}.affects names no component`);
    const refs = Array.isArray(v.references) ? v.references.flatMap((r) => (isObject(r) && typeof r.id === "string" ? [r.id] : [])) : [];
    out.push({
      vulnerabilities: [v.id, ...refs],
      products: affects,
      status: CDX_STATES[state]!,
      ...(typeof v.analysis.justification === "string" && { justification: v.analysis.justification }),
      ...(typeof v.analysis.detail === "string" && { impact: v.analysis.detail }),
      source: `${path}#vulnerabilities[${i}]`,
      order: start + i,
    });
  });
  return out;
}

/** The statement that decides for a finding (its ids) on a component (its purl and bom-ref), if any. */
export function applicableStatement(statements: VexStatement[], ids: string[], purl: string, ref?: string): VexStatement | undefined {
  const idSet = new Set(ids.map((x) => x.toUpperCase()));
  let best: VexStatement | undefined;
  for (const s of statements) {
    if (!s.vulnerabilities.some((v) => idSet.has(v.toUpperCase()))) continue;
    if (!s.products.some((p) => p === ref || productCovers(p, purl))) continue;
    if (!best || s.order > best.order) best = s;
  }
  return best;
}

/** Whether a statement's product purl names this component: same type, namespace and name; same version if it gives one. */
export function productCovers(product: string, purl: string): boolean {
  if (product === purl) return true;
  if (!product.startsWith("pkg:")) return false;
  try {
    const p = PackageURL.fromString(product);
    const c = PackageURL.fromString(purl);
    if (p.type !== c.type || (p.namespace ?? "") !== (c.namespace ?? "") || p.name !== c.name) return false;
    if (!p.version) return true;
    return (p.version ?? "").replace(/^v/, "") === (c.version ?? "").replace(/^v/, "");
  } catch {
    return false;
  }
}
