// @ts-nocheck -- htm templates are checked by the browser tests, not by tsc.
// The Vigil console: the security team's read-only window onto what runs, why, and the audit log behind
// it. Pages are hash routes over the console's API (/api/v1, OpenAPI at /api/v1/openapi.json); the
// token stays in this tab's sessionStorage. Proofs are verified here (proof.js), not taken on trust.
import { h, render } from "preact";
import { useEffect, useState } from "preact/hooks";
import htm from "htm";
import { verifyEntry } from "./proof.js";

const html = htm.bind(h);
const TOKEN = "vigil-console-token";
const PINNED_KEY = "vigil-console-verifier-key";
/** Rows of a long table drawn at first (the filter searches them all): a page of 1,000 resources stays quick to load. */
const PAGE_ROWS = 200;
/** As the monitor rates findings; unknown: a severity that could not be read, shown rather than hidden. */
const SEVERITY_NAMES = ["critical", "high", "medium", "low", "info", "none", "unknown"];

async function api(path) {
  const response = await fetch(`/api/v1/${path}`, { headers: { authorization: `Bearer ${sessionStorage.getItem(TOKEN)}` } });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN);
    location.hash = "#/";
    location.reload();
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
  return body;
}

/** Loads `path` whenever it changes; [data, error]. */
function useApi(path) {
  const [state, setState] = useState({ data: undefined, error: undefined });
  useEffect(() => {
    let live = true;
    setState({ data: undefined, error: undefined });
    if (path)
      api(path).then(
        (data) => live && setState({ data }),
        (error) => live && setState({ error: error.message }),
      );
    return () => (live = false);
  }, [path]);
  return [state.data, state.error];
}

function useRoute() {
  const [hash, setHash] = useState(location.hash || "#/");
  useEffect(() => {
    const on = () => setHash(location.hash || "#/");
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  const [path, query = ""] = hash.slice(1).split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

const short = (id) => (id ? id.slice(0, 12) : "—");
const Status = ({ value }) => html`<span class=${`badge ${value.split(" ")[0]}`}>${value}</span>`;
const Loading = ({ error }) => (error ? html`<p class="error" role="alert">${error}</p>` : html`<p>Loading…</p>`);
const entryLink = (index, text) => html`<a href=${`#/entry/${index}`}>${text ?? `entry ${index}`}</a>`;
const query = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== "")).toString();
const verifierKey = (checkpoint) => localStorage.getItem(PINNED_KEY) || checkpoint.verifierKey;

const OIDC_PENDING = "vigil-console-oidc";
const base64url = (bytes) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const randomText = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
const redirectUri = () => `${location.origin}/`;

/** OpenID Connect's authorization code flow with PKCE (RFC 7636), as a public client: off to the issuer. */
async function startOidc(oidc) {
  const discovery = await (await fetch(`${oidc.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`)).json();
  if (discovery.issuer !== oidc.issuer) throw new Error(`the issuer's discovery document names ${discovery.issuer}`);
  const pending = {
    verifier: randomText(),
    state: randomText(),
    nonce: randomText(),
    clientId: oidc.clientId,
    tokenEndpoint: discovery.token_endpoint,
  };
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(pending.verifier))));
  sessionStorage.setItem(OIDC_PENDING, JSON.stringify(pending));
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: oidc.clientId,
    redirect_uri: redirectUri(),
    scope: oidc.scopes.join(" "),
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.href);
}

/** Back from the issuer: the code exchanged for an ID token, its state and nonce ours; the console checks the rest. */
async function finishOidc(params) {
  const pending = JSON.parse(sessionStorage.getItem(OIDC_PENDING) ?? "null");
  sessionStorage.removeItem(OIDC_PENDING);
  history.replaceState(null, "", "/");
  if (params.get("error")) throw new Error(`the issuer refused: ${params.get("error")} ${params.get("error_description") ?? ""}`);
  if (!pending || params.get("state") !== pending.state)
    throw new Error("this sign-in was not started here (its state does not match): sign in again");
  const response = await fetch(pending.tokenEndpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: params.get("code") ?? "",
      redirect_uri: redirectUri(),
      client_id: pending.clientId,
      code_verifier: pending.verifier,
    }),
  });
  const body = await response.json();
  if (!response.ok || typeof body.id_token !== "string") throw new Error(`the issuer gave no ID token: ${body.error ?? response.status}`);
  const claims = JSON.parse(atob(body.id_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  if (claims.nonce !== pending.nonce) throw new Error("the ID token is not for this sign-in (its nonce does not match)");
  sessionStorage.setItem(TOKEN, body.id_token);
}

function Login() {
  const [error, setError] = useState("");
  const [signIn] = useState(() => fetch("/api/v1/sign-in").then((r) => r.json()));
  const [oidc, setOidc] = useState(undefined);
  useEffect(() => {
    signIn.then((s) => setOidc(s.oidc));
    const params = new URLSearchParams(location.search);
    if (params.has("code") || params.has("error"))
      finishOidc(params).then(
        () => location.reload(),
        (e) => setError(e.message),
      );
  }, []);
  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    sessionStorage.setItem(TOKEN, String(form.get("token")).trim());
    const key = String(form.get("key")).trim();
    if (key) localStorage.setItem(PINNED_KEY, key);
    const response = await fetch("/api/v1/me", { headers: { authorization: `Bearer ${sessionStorage.getItem(TOKEN)}` } });
    if (response.ok) location.reload();
    else setError((await response.json()).error);
  }
  return html`<main class="login"><h1>Vigil console</h1>
    <form onSubmit=${submit}>
      <label for="token">Bearer token (from <code>vigil console token</code>) or an OIDC ID token</label>
      <input id="token" name="token" type="password" autocomplete="off" required />
      <label for="key">The audit log's verifier key, to check proofs against (optional: else the console's)</label>
      <input id="key" name="key" type="text" autocomplete="off" value=${localStorage.getItem(PINNED_KEY) ?? ""} />
      <p><button type="submit">Sign in</button></p>
    </form>
    ${oidc && html`<p><button type="button" onClick=${() => startOidc(oidc).catch((e) => setError(e.message))}>Sign in with ${new URL(oidc.issuer).host}</button></p>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
    </main>`;
}

function Header({ me }) {
  const signOut = () => {
    sessionStorage.removeItem(TOKEN);
    location.hash = "#/";
    location.reload();
  };
  return html`<header>
    <strong>Vigil</strong>
    <nav aria-label="Main"><ul>
      <li><a href="#/">Environments</a></li>
      <li><a href="#/findings">Findings</a></li>
      <li><a href="#/approvals">Approvals</a></li>
      <li><a href="#/explain">Why is this running?</a></li>
      ${me.role === "auditor" && html`<li><a href="#/audit">Audit log</a></li>`}
    </ul></nav>
    <span class="who">${me.role ? `${me.name} (${me.role})` : ""}</span>
    <button type="button" onClick=${signOut}>Sign out</button>
  </header>`;
}

function Overview() {
  const [data, error] = useApi("environments");
  if (!data) return html`<h1>Environments</h1><${Loading} error=${error} />`;
  return html`<h1>Environments</h1>
    <p class="muted">Audit log verified up to its checkpoint of ${data.checkpoint.size} entries.</p>
    ${data.environments.length === 0 && html`<p>No environment in the audit log yet.</p>`}
    <div class="cards">${data.environments.map(
      (e) => html`<section class="card" aria-labelledby=${`env-${e.name}`}>
      <h2 id=${`env-${e.name}`}><a href=${`#/env/${encodeURIComponent(e.name)}`}>${e.name}</a> <${Status} value=${e.state} /></h2>
      <dl class="facts">
        <dt>Runs</dt><dd>${e.running ? html`<code>${short(e.running.revision)}</code> since ${e.running.since}` : "nothing"}</dd>
        <dt>Health</dt><dd><${Status} value=${e.health.status} /> ${e.health.detail}</dd>
        <dt>Approved by</dt><dd>${e.approvedBy.length ? e.approvedBy.map((a) => a.name).join(", ") : "no approval recorded"}</dd>
        <dt>Resources</dt><dd>${e.resources} (${e.images.length} images)</dd>
        <dt>Open findings</dt><dd><${Severities} counts=${e.findings} /></dd>
        ${
          e.latestReconcile &&
          e.latestReconcile.verdict === "fail" &&
          html`<dt>Latest</dt><dd><${Status} value=${e.state} /> ${short(e.latestReconcile.revision)}: ${e.latestReconcile.blockedBy
            .slice(0, 2)
            .map((c) => `${c.gate}: ${c.message}`)
            .join("; ")}</dd>`
        }
      </dl></section>`,
    )}</div>`;
}

const Severities = ({ counts }) => {
  const shown = Object.entries(counts).filter(([, n]) => n > 0);
  return shown.length === 0
    ? html`<span class="pass">none</span>`
    : shown.map(([s, n], i) => html`${i > 0 ? ", " : ""}<span class=${s}>${n} ${s}</span>`);
};

function Chain({ chain, environment, title }) {
  return html`<h2>${title}: <code>${short(chain.revision)}</code> <${Status} value=${chain.verdict} /></h2>
    <ol class="chain" aria-label=${`${title} chain`}>${chain.stages.map(
      (s) => html`<li><div class=${`stage ${s.status}`}>
      ${s.entry !== undefined ? html`<a href=${`#/entry/${s.entry}?stage=${s.stage}&env=${encodeURIComponent(environment)}`}>${s.stage}</a>` : html`<strong>${s.stage}</strong>`}
      <span class="badge">${s.status}</span><p>${s.summary}</p></div></li>`,
    )}</ol>
    <details><summary>Checks behind each link</summary>${chain.stages.filter((s) => s.checks.length > 0).map((s) => html`<h3>${s.stage}</h3><${Checks} checks=${s.checks} more=${s.more} />`)}</details>`;
}

const Checks = ({
  checks,
  more = 0,
}) => html`<table><thead><tr><th scope="col">Gate</th><th scope="col">Rule</th><th scope="col">Status</th><th scope="col">Subject</th><th scope="col">Message</th></tr></thead>
  <tbody>${checks.map((c) => html`<tr><td>${c.gate}</td><td>${c.rule}</td><td><${Status} value=${c.status} /></td><td>${c.subject}</td><td>${c.message}</td></tr>`)}</tbody></table>
  ${more > 0 && html`<p class="muted">and ${more} more</p>`}`;

function Environment({ name }) {
  const [data, error] = useApi(`environments/${encodeURIComponent(name)}`);
  const [filter, setFilter] = useState("");
  const [limit, setLimit] = useState(PAGE_ROWS);
  if (!data) return html`<h1>${name}</h1><${Loading} error=${error} />`;
  const matching = data.resources.filter((r) =>
    `${r.kind}/${r.namespace ?? ""}/${r.name} ${r.images.map((i) => i.image).join(" ")}`.toLowerCase().includes(filter.toLowerCase()),
  );
  return html`<h1>${name} <${Status} value=${data.state} /></h1>
    <dl class="facts">
      <dt>Runs</dt><dd>${data.running ? html`<code>${data.running.revision}</code> since ${data.running.since} (${entryLink(data.running.entry)})` : "nothing"}</dd>
      <dt>Health</dt><dd><${Status} value=${data.health.status} /> ${data.health.detail}</dd>
      <dt>Open findings</dt><dd><${Severities} counts=${data.findings} /> (<a href=${`#/findings?env=${encodeURIComponent(name)}`}>list</a>)</dd>
    </dl>
    ${data.chains.latest && html`<${Chain} chain=${data.chains.latest} environment=${name} title=${data.state === "waiting for approval" ? "Waiting for approval" : "Latest revision, not applied"} />`}
    ${data.chains.running && html`<${Chain} chain=${data.chains.running} environment=${name} title="Running" />`}
    <h2>Resources (${data.resources.length})</h2>
    <form class="inline" onSubmit=${(e) => e.preventDefault()}><label for="filter">Filter by name or image<input id="filter" type="search" value=${filter} onInput=${(e) => setFilter(e.target.value)} /></label></form>
    <table id="resources" aria-label="Resources"><thead><tr><th scope="col">Resource</th><th scope="col">Action</th><th scope="col">Images</th><th scope="col">Why?</th></tr></thead>
    <tbody>${matching.slice(0, limit).map((r) => {
      const id = `${r.kind}/${r.namespace ? `${r.namespace}/` : ""}${r.name}`;
      return html`<tr><td>${id}</td><td>${r.action}</td><td>${r.images.map((i) => html`<div><code>${i.image}</code>${i.digest && !i.image.includes("@") ? html` <code>${short(i.digest.split(":")[1])}</code>` : ""}</div>`)}</td>
        <td><a href=${`#/explain?${query({ env: name, target: id })}`} aria-label=${`Why is ${id} running?`}>why</a></td></tr>`;
    })}</tbody></table>
    ${matching.length > limit && html`<p>${limit} of ${matching.length} shown. <button type="button" onClick=${() => setLimit(matching.length)}>Show all ${matching.length}</button></p>`}`;
}

/** An entry's inclusion in the latest checkpoint, verified here. */
function Proof({ entry, checkpoint }) {
  const [result, setResult] = useState(undefined);
  useEffect(() => {
    verifyEntry(entry, checkpoint.note, verifierKey(checkpoint)).then(setResult);
  }, [entry.index, checkpoint.note]);
  if (!result) return html`<p>Verifying the inclusion proof…</p>`;
  return result.ok
    ? html`<p class="verified" data-proof="verified">Entry ${entry.index}: inclusion proof verified in this browser against the checkpoint of ${result.size} entries signed by <code>${verifierKey(checkpoint).split("+")[0]}</code>.</p>`
    : html`<p class="refused" data-proof="refused" role="alert">Entry ${entry.index}: the proof does NOT verify: ${result.reason}</p>`;
}

/** The gates whose checks stand behind each link of a chain. */
const STAGE_GATES = {
  commits: ["revision"],
  signers: ["revision"],
  approvals: ["approvals", "promotion"],
  policies: ["policy", "render", "secrets"],
  images: ["artifact"],
  vulnerabilities: ["vulnerability"],
  applied: ["apply", "health"],
};

function Entry({ index, params }) {
  const [data, error] = useApi(`entries/${index}`);
  if (!data) return html`<h1>Entry ${index}</h1><${Loading} error=${error} />`;
  const r = data.record;
  const stage = params.get("stage");
  const gates = STAGE_GATES[stage];
  return html`<h1>Entry ${index}: ${r.kind}${r.environment ? ` in ${r.environment}` : ""}</h1>
    <${Proof} entry=${data} checkpoint=${data.checkpoint} />
    <dl class="facts"><dt>Time</dt><dd>${r.time}</dd><dt>Leaf hash</dt><dd><code>${data.leafHash}</code></dd></dl>
    ${r.kind === "reconcile" && gates && html`<h2>The checks behind “${stage}”</h2><${Checks} checks=${r.payload.checks.filter((c) => gates.includes(c.gate))} />`}
    ${
      r.kind === "reconcile" &&
      html`<h2>Verdict <${Status} value=${r.payload.verdict} /></h2><${Checks} checks=${r.payload.checks} />
      <h2>Commits</h2><table><thead><tr><th scope="col">Commit</th><th scope="col">Signer</th><th scope="col">Key</th></tr></thead>
      <tbody>${r.payload.commits.map((c) => html`<tr><td><code>${c.commit}</code></td><td>${c.signer ?? "not signed"}</td><td>${c.key ?? ""}</td></tr>`)}</tbody></table>`
    }
    <h2>Record</h2><pre>${JSON.stringify(r, null, 2)}</pre>`;
}

function Explain({ params }) {
  const env = params.get("env") ?? "";
  const target = params.get("target") ?? "";
  const [data, error] = useApi(env && target ? `explain?${query({ env, target })}` : undefined);
  const [envs] = useApi("environments");
  function submit(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    location.hash = `#/explain?${query({ env: form.get("env"), target: String(form.get("target")).trim() })}`;
  }
  return html`<h1>Why is this running?</h1>
    <form class="inline" onSubmit=${submit}>
      <label for="explain-env">Environment<select id="explain-env" name="env" value=${env}>${(envs?.environments ?? []).map((e) => html`<option value=${e.name} selected=${e.name === env}>${e.name}</option>`)}</select></label>
      <label for="explain-target">Resource (Kind/namespace/name) or image digest<input id="explain-target" name="target" size="60" value=${target} required /></label>
      <button type="submit">Explain</button>
    </form>
    ${env && target && !data && html`<${Loading} error=${error} />`}
    ${
      data &&
      html`<h2>${data.target} in ${data.environment}: revision <code>${short(data.revision)}</code></h2>
      <table><thead><tr><th scope="col">Entry</th><th scope="col">Link</th><th scope="col">Detail</th></tr></thead>
      <tbody>${data.links.map((l) => html`<tr><td>${entryLink(l.index, String(l.index))}</td><td>${l.link}</td><td>${l.detail}</td></tr>`)}</tbody></table>
      <h2>Proofs</h2>${data.entries.map((e) => html`<${Proof} entry=${e} checkpoint=${data.checkpoint} />`)}`
    }`;
}

function Plot({ history }) {
  if (history.length === 0) return html`<p>No findings yet.</p>`;
  const severities = ["critical", "high", "medium", "low"];
  const colours = { critical: "#a40e26", high: "#d1242f", medium: "#7a4a00", low: "#4a5360" };
  const max = Math.max(1, ...history.map((d) => severities.reduce((n, s) => n + d[s], 0)));
  const w = 600,
    ht = 200,
    pad = 30;
  const x = (i) => pad + (history.length === 1 ? (w - 2 * pad) / 2 : (i * (w - 2 * pad)) / (history.length - 1));
  const y = (n) => ht - pad - (n * (ht - 2 * pad)) / max;
  return html`<figure><svg class="plot" viewBox=${`0 0 ${w} ${ht}`} role="img" aria-labelledby="plot-title">
    <title id="plot-title">Open findings by the day first seen, cumulative, per severity</title>
    <line x1=${pad} y1=${ht - pad} x2=${w - pad} y2=${ht - pad} stroke="#4a5360" />
    <text x=${pad} y=${ht - 8} font-size="11">${history[0].day}</text><text x=${w - pad} y=${ht - 8} font-size="11" text-anchor="end">${history.at(-1).day}</text>
    <text x="4" y=${pad} font-size="11">${max}</text>
    ${severities.map((s) => html`<polyline fill="none" stroke=${colours[s]} stroke-width="2" points=${history.map((d, i) => `${x(i)},${y(d[s])}`).join(" ")} />`)}
  </svg><figcaption>${severities.map((s) => html`<span class=${s}>■ ${s} </span>`)}</figcaption></figure>`;
}

function Findings({ params }) {
  const env = params.get("env") ?? "";
  const severity = params.get("severity") ?? "";
  const [data, error] = useApi(`findings?${query({ env, severity })}`);
  const set = (field) => (e) => (location.hash = `#/findings?${query({ env, severity, [field]: e.target.value })}`);
  if (!data) return html`<h1>Findings</h1><${Loading} error=${error} />`;
  if (!data.inventory)
    return html`<h1>Findings</h1><p>No monitor inventory in the console's configuration: continuous security findings cannot be shown.</p>`;
  return html`<h1>Findings</h1>
    <table><caption>Open findings by environment and severity</caption><thead><tr><th scope="col">Environment</th>${SEVERITY_NAMES.map((s) => html`<th scope="col">${s}</th>`)}</tr></thead>
    <tbody>${Object.entries(data.byEnvironment).map(([e, c]) => html`<tr><th scope="row"><a href=${`#/findings?env=${encodeURIComponent(e)}`}>${e}</a></th>${SEVERITY_NAMES.map((s) => html`<td>${c[s]}</td>`)}</tr>`)}</tbody></table>
    <h2>History</h2><${Plot} history=${data.history} />
    <h2>${data.total} open finding${data.total === 1 ? "" : "s"}${env ? ` in ${env}` : ""}</h2>
    <form class="inline" onSubmit=${(e) => e.preventDefault()}>
      <label for="f-env">Environment<select id="f-env" onChange=${set("env")}><option value="">all</option>${Object.keys(data.byEnvironment).map((e) => html`<option value=${e} selected=${e === env}>${e}</option>`)}</select></label>
      <label for="f-sev">Severity<select id="f-sev" onChange=${set("severity")}><option value="">all</option>${SEVERITY_NAMES.map((s) => html`<option value=${s} selected=${s === severity}>${s}</option>`)}</select></label>
    </form>
    <table><thead><tr><th scope="col">Severity</th><th scope="col">Environment</th><th scope="col">Workload</th><th scope="col">Subject</th><th scope="col">Rule</th><th scope="col">Since</th><th scope="col">Action</th></tr></thead>
    <tbody>${data.findings.map((f) => html`<tr><td><span class=${f.severity}>${f.severity}</span></td><td>${f.environment}</td><td>${f.workload}</td><td>${f.subject}</td><td>${f.rule}</td><td>${f.since}</td><td>${f.suppressed ? `suppressed (VEX ${f.suppressed.status})` : f.action}</td></tr>`)}</tbody></table>`;
}

function Approvals() {
  const [data, error] = useApi("approvals");
  if (!data) return html`<h1>Approvals waiting</h1><${Loading} error=${error} />`;
  return html`<h1>Approvals waiting</h1>
    ${data.pending.length === 0 && html`<p>No revision is waiting for an approval.</p>`}
    ${data.pending.map(
      (p) => html`<section aria-labelledby=${`p-${p.environment}`}>
      <h2 id=${`p-${p.environment}`}>${p.environment}: <code>${p.revision}</code></h2>
      <p>Waiting since ${p.time} (${entryLink(p.entry)}); applied now: <code>${short(p.from)}</code>.</p>
      <${Checks} checks=${p.waitingFor} />
      <h3>Commits</h3><ul>${p.commits.map((c) => html`<li><code>${short(c.commit)}</code> signed by ${c.signer ?? "nobody"}</li>`)}</ul>
      <h3>Diff</h3><pre>${p.diff.text}${p.diff.truncated ? "\n… (truncated)" : ""}</pre>
      <h3>To approve it, sign with your own key</h3><pre><code>${p.command}</code></pre>
    </section>`,
    )}`;
}

function Audit({ params }) {
  // The inputs start from the address but are not bound to it: a re-render when results arrive must not
  // wipe what a person is typing. A new search (a new address) makes a new form.
  const fields = ["resource", "person", "commit", "env", "kind", "since", "until"];
  const search = Object.fromEntries(fields.map((f) => [f, params.get(f) ?? ""]));
  const before = params.get("before") ?? "";
  const [data, error] = useApi(`audit/search?${query({ ...search, before })}`);
  const [cps] = useApi("audit/checkpoints?limit=10");
  function submit(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    location.hash = `#/audit?${query(Object.fromEntries(fields.map((f) => [f, String(form.get(f) ?? "").trim()])))}`;
  }
  async function exportLog() {
    const response = await fetch(`/api/v1/audit/export?${query(search)}`, {
      headers: { authorization: `Bearer ${sessionStorage.getItem(TOKEN)}` },
    });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(await response.blob());
    a.download = "vigil-audit.jsonl";
    a.click();
  }
  return html`<h1>Audit log</h1>
    <form class="inline" key=${query(search)} onSubmit=${submit} aria-label="Search the audit log">
      ${fields.map((f) => html`<label for=${`a-${f}`}>${f}<input id=${`a-${f}`} name=${f} defaultValue=${search[f]} size=${f === "since" || f === "until" ? 20 : 14} /></label>`)}
      <button type="submit">Search</button>
      <button type="button" onClick=${exportLog}>Export (JSON lines)</button>
    </form>
    ${
      !data
        ? html`<${Loading} error=${error} />`
        : html`<p class="muted">${data.entries.length} shown, newest first, of ${data.total} entries.</p>
      <table><thead><tr><th scope="col">Entry</th><th scope="col">Time</th><th scope="col">Kind</th><th scope="col">Environment</th><th scope="col">Summary</th></tr></thead>
      <tbody>${data.entries.map((e) => html`<tr><td>${entryLink(e.index, String(e.index))}</td><td>${e.time}</td><td>${e.kind}</td><td>${e.environment ?? ""}</td><td>${e.summary}</td></tr>`)}</tbody></table>
      ${data.next !== undefined && html`<p><a href=${`#/audit?${query({ ...search, before: data.next })}`}>Older entries</a></p>`}`
    }
    <h2>Checkpoints</h2>
    ${
      cps &&
      html`<p class="muted">${cps.total} signed checkpoints, each verified with <code>${cps.verifierKey.split("+")[0]}</code>; the latest ten:</p>
      <table><thead><tr><th scope="col">Size</th><th scope="col">Root</th><th scope="col">Signature</th></tr></thead>
      <tbody>${cps.checkpoints.map((c) => html`<tr><td>${c.size}</td><td><code>${c.root}</code></td><td>${c.verified ? html`<span class="pass">verified</span>` : html`<span class="fail">${c.problem}</span>`}</td></tr>`)}</tbody></table>`
    }`;
}

function Page({ me }) {
  const { parts, query: params } = useRoute();
  const [page, arg] = parts;
  useEffect(() => {
    document.title = `${page ?? "environments"} · Vigil console`;
  }, [page, arg]);
  if (page === "env" && arg) return html`<${Environment} name=${arg} />`;
  if (page === "entry" && arg) return html`<${Entry} index=${arg} params=${params} />`;
  if (page === "explain") return html`<${Explain} params=${params} />`;
  if (page === "findings") return html`<${Findings} params=${params} />`;
  if (page === "approvals") return html`<${Approvals} />`;
  if (page === "audit")
    return !me
      ? html`<h1>Audit log</h1><p>Loading…</p>`
      : me.role === "auditor"
        ? html`<${Audit} params=${params} />`
        : html`<h1>Audit log</h1><p>The audit log needs the auditor role.</p>`;
  return html`<${Overview} />`;
}

function App() {
  const [me, error] = useApi(sessionStorage.getItem(TOKEN) ? "me" : undefined);
  if (!sessionStorage.getItem(TOKEN) || error) return html`<${Login} />`;
  // The page's own data loads beside "who am I", not after it; only the audit page waits for the role.
  return html`<${Header} me=${me ?? { name: "…", role: "" }} /><main id="main"><${Page} me=${me} /></main>`;
}

render(html`<${App} />`, document.getElementById("app"));
