// The API's routes: one table that both dispatches requests and is the OpenAPI 3.1 document, so the
// description cannot drift from what is served. Every route is GET, read-only and needs a role.
import { InputError } from "../core/errors.ts";
import type { Caller } from "./auth.ts";
import type { Role } from "./config.ts";
import * as views from "./views.ts";

interface Parameter {
  name: string;
  in: "path" | "query";
  description: string;
  required?: boolean;
  type?: "string" | "integer";
}

export interface Route {
  path: string;
  role: Role;
  summary: string;
  parameters: Parameter[];
  /** application/json unless said otherwise. */
  produces?: string;
  match(pathname: string): Record<string, string> | undefined;
  handle(request: { sources: views.Sources; params: Record<string, string>; query: URLSearchParams; caller: Caller }): Promise<unknown>;
}

function route(path: string, role: Role, summary: string, parameters: Parameter[], handle: Route["handle"], produces?: string): Route {
  const names: string[] = [];
  const pattern = new RegExp(`^${path.replace(/\{(\w+)\}/g, (_, n: string) => (names.push(n), "([^/]+)"))}$`);
  return {
    path,
    role,
    summary,
    parameters,
    handle,
    ...(produces && { produces }),
    match(pathname) {
      const m = pattern.exec(pathname);
      if (!m) return undefined;
      try {
        return Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
      } catch {
        return undefined;
      }
    },
  };
}

const environmentName = (text: string, what: string) => {
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(text) || text.length > 253)
    throw new InputError(`${what}: ${JSON.stringify(text.slice(0, 64))} is not an environment name`);
  return text;
};

function integer(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const text = query.get(name);
  if (text === null || text === "") return fallback;
  if (!/^\d{1,15}$/.test(text) || Number(text) > max) throw new InputError(`${name}: must be a whole number from 0 to ${max}`);
  return Number(text);
}

function requiredQuery(query: URLSearchParams, name: string): string {
  const value = query.get(name);
  if (!value) throw new InputError(`${name} is required`);
  if (value.length > 1024) throw new InputError(`${name}: over 1024 characters`);
  return value;
}

const searchParameters: Parameter[] = [
  { name: "resource", in: "query", description: "part of a resource's Kind/namespace/name, or of a finding's subject" },
  { name: "person", in: "query", description: "part of the name of a commit signer, an approver or a trust-policy signer" },
  { name: "commit", in: "query", description: "the start of a commit id" },
  { name: "env", in: "query", description: "an environment" },
  {
    name: "kind",
    in: "query",
    description:
      "a record kind (reconcile, apply, prune, drift, deployment, claims, approval, policy-change, trust-policy-change, finding)",
  },
  { name: "since", in: "query", description: "from this time (RFC 3339 or a date), inclusive" },
  { name: "until", in: "query", description: "up to this time (RFC 3339 or a date), inclusive" },
];

export const routes: Route[] = [
  route("/api/v1/me", "viewer", "Who is calling, and with which role.", [], async ({ caller }) => caller),
  route(
    "/api/v1/environments",
    "viewer",
    "Every environment: what runs (revision, images, health), what is waiting or blocked and why, open findings.",
    [],
    async ({ sources }) => views.environments(sources),
  ),
  route(
    "/api/v1/environments/{name}",
    "viewer",
    "One environment: every resource it runs, and each revision's chain (commits → signers → approvals → policies → images → vulnerabilities → applied).",
    [{ name: "name", in: "path", required: true, description: "the environment" }],
    async ({ sources, params }) => views.environment(sources, environmentName(params.name!, "name")),
  ),
  route(
    "/api/v1/explain",
    "viewer",
    "Why is this running? The recorded chain that put a resource or image in an environment, with each entry's bytes and inclusion proof in the latest checkpoint.",
    [
      { name: "env", in: "query", required: true, description: "the environment" },
      { name: "target", in: "query", required: true, description: "Kind/namespace/name, an image reference or a digest" },
    ],
    async ({ sources, query }) =>
      views.explainTarget(sources, environmentName(requiredQuery(query, "env"), "env"), requiredQuery(query, "target")),
  ),
  route(
    "/api/v1/entries/{index}",
    "viewer",
    "One log entry: its record, its exact bytes, and its inclusion proof in the latest signed checkpoint.",
    [{ name: "index", in: "path", required: true, type: "integer", description: "the entry's index" }],
    async ({ sources, params }) => {
      if (!/^\d{1,15}$/.test(params.index!))
        throw new InputError(`index: ${JSON.stringify(params.index!.slice(0, 32))} is not an entry index`);
      return views.entry(sources, Number(params.index));
    },
  ),
  route(
    "/api/v1/findings",
    "viewer",
    "The monitor's open findings, by environment and severity, with their history by the day first seen.",
    [
      { name: "env", in: "query", description: "only this environment" },
      { name: "severity", in: "query", description: "only this severity (critical, high, medium, low, info, none, unknown)" },
    ],
    async ({ sources, query }) => {
      const severity = query.get("severity") || undefined;
      if (severity && !["critical", "high", "medium", "low", "info", "none", "unknown"].includes(severity))
        throw new InputError(
          `severity: ${JSON.stringify(severity.slice(0, 32))} is not critical, high, medium, low, info, none or unknown`,
        );
      const env = query.get("env") || undefined;
      return views.findings(sources, env && environmentName(env, "env"), severity);
    },
  ),
  route(
    "/api/v1/approvals",
    "viewer",
    "Revisions waiting only for approvals: the exact commit, its commits and diff, and the command that approves it with one's own key.",
    [],
    async ({ sources }) => views.pendingApprovals(sources),
  ),
  route(
    "/api/v1/audit/search",
    "auditor",
    "Search the audit log by resource, person, commit, environment, kind and time; newest first, a page at a time.",
    [
      ...searchParameters,
      { name: "before", in: "query", type: "integer", description: "only entries before this index (the previous page's next)" },
      { name: "limit", in: "query", type: "integer", description: "entries per page (default 50, at most 500)" },
    ],
    async ({ sources, query }) => {
      const before = query.get("before") ? integer(query, "before", 0, Number.MAX_SAFE_INTEGER) : undefined;
      return views.searchLog(sources, views.searchFrom(query), before, integer(query, "limit", 50, 500));
    },
  ),
  route(
    "/api/v1/audit/checkpoints",
    "auditor",
    "The log's signed checkpoints, newest first, each signature verified with the configured key.",
    [
      { name: "offset", in: "query", type: "integer", description: "skip this many (default 0)" },
      { name: "limit", in: "query", type: "integer", description: "at most this many (default 50, at most 500)" },
    ],
    async ({ sources, query }) =>
      views.checkpoints(sources, integer(query, "offset", 0, Number.MAX_SAFE_INTEGER), integer(query, "limit", 50, 500)),
  ),
  route(
    "/api/v1/audit/export",
    "auditor",
    "The matching entries as JSON lines (index, leafHash and the record), as vigil audit export writes them.",
    searchParameters,
    async ({ sources, query }) => views.exportLog(sources, views.searchFrom(query)),
    "application/x-ndjson",
  ),
];

/** The OpenAPI 3.1 description of `routes`. */
export function openApiDocument(): unknown {
  const paths: Record<string, unknown> = {};
  for (const r of routes) {
    paths[r.path] = {
      get: {
        summary: r.summary,
        description: `Needs the ${r.role} role${r.role === "viewer" ? " (or auditor)" : ""}.`,
        operationId: r.path
          .replace(/^\/api\/v1\//, "")
          .replace(/[{}]/g, "")
          .replace(/\//g, "_"),
        security: [{ bearer: [] }],
        parameters: r.parameters.map((p) => ({
          name: p.name,
          in: p.in,
          required: p.required ?? p.in === "path",
          description: p.description,
          schema: { type: p.type ?? "string" },
        })),
        responses: {
          200: {
            description: "the answer",
            content: { [r.produces ?? "application/json"]: { schema: r.produces ? { type: "string" } : { type: "object" } } },
          },
          400: { $ref: "#/components/responses/error" },
          401: { $ref: "#/components/responses/error" },
          403: { $ref: "#/components/responses/error" },
          404: { $ref: "#/components/responses/error" },
          500: { $ref: "#/components/responses/error" },
          503: { $ref: "#/components/responses/error" },
        },
      },
    };
  }
  paths["/api/v1/sign-in"] = {
    get: {
      summary: "How a person signs in: the OIDC issuer, client id and scopes, when one is configured. Public.",
      operationId: "sign-in",
      security: [],
      responses: {
        200: {
          description: "{} or { oidc: { issuer, clientId, scopes } }",
          content: { "application/json": { schema: { type: "object" } } },
        },
      },
    },
  };
  return {
    openapi: "3.1.0",
    info: {
      title: "Vigil console API",
      version: "1",
      description:
        "Read-only: what runs where, why, and the audit log behind it. 401 without valid credentials, 403 without the role, 500 when the audit log does not verify (nothing from it is served then).",
    },
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "a token from the console's configuration, or an OIDC ID token from its issuer",
        },
      },
      responses: {
        error: {
          description: "what went wrong",
          content: { "application/json": { schema: { type: "object", properties: { error: { type: "string" } }, required: ["error"] } } },
        },
      },
    },
  };
}
