// End to end: the console in Debian's Chromium (headless, through playwright-core). A security person
// signs in and answers "what runs in prod, who approved it, is it safe now" from the console alone;
// proofs are verified by the page itself and refused when tampered with; every page passes axe;
// screenshots of each are kept in .cache/test-artifacts/console/.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { loadConsoleConfig } from "../src/console/config.ts";
import { startConsole } from "../src/console/server.ts";
import { axeViolations, launchChromium, screenshot } from "./helpers/browser.ts";
import { makeConsoleFixture } from "./helpers/console-fixture.ts";
import { makeLogKey } from "./helpers/audit.ts";
import { tempDir } from "./helpers/tools.ts";

async function noViolations(page: Page, where: string): Promise<void> {
  const violations = await axeViolations(page);
  assert.deepEqual(violations, [], `${where}: accessibility violations`);
}

async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel(/Bearer token/).fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Environments" }).waitFor();
}

test("a security person answers what runs in prod, who approved it and whether it is safe, from the console alone", async (t) => {
  const context = await launchChromium(t);
  if (!context) return;
  const dir = tempDir(t);
  const world = await makeConsoleFixture(dir);
  const running = await startConsole(loadConsoleConfig(world.configFile));
  t.after(() => running.close());
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));

  await page.goto(running.url);
  await page.getByLabel(/Bearer token/).waitFor();
  await noViolations(page, "sign-in");
  await screenshot(page, "01-sign-in");
  await signIn(page, running.url, world.tokens.auditor);

  // What runs in prod, who approved it, is it safe now: the overview card says all three.
  const prod = page.getByRole("region", { name: /prod/ });
  await prod.getByText(world.commits.second.slice(0, 12)).waitFor();
  assert.match(await prod.innerText(), /bob, carol/);
  assert.match(await prod.innerText(), /1 critical/);
  assert.match(await prod.innerText(), /waiting for approval/);
  await noViolations(page, "environments");
  await screenshot(page, "02-environments");

  await prod.getByRole("link", { name: "prod" }).click();
  await page.getByRole("list", { name: "Running chain" }).waitFor();
  const stages = await page.getByRole("list", { name: "Running chain" }).getByRole("listitem").allInnerTexts();
  assert.deepEqual(
    stages.map((s) => s.split("\n")[0]),
    ["commits", "signers", "approvals", "policies", "images", "vulnerabilities", "applied"],
  );
  assert.match(stages[5]!, /fail/, "a critical finding open on the running image makes its vulnerabilities link fail");
  await page.getByRole("list", { name: "Waiting for approval chain" }).waitFor();
  await noViolations(page, "environment");
  await screenshot(page, "03-environment-prod");

  // Each link opens the check behind it, with the entry's inclusion proof verified in the page.
  await page.getByRole("list", { name: "Running chain" }).getByRole("link", { name: "policies" }).click();
  await page.getByRole("heading", { name: "The checks behind “policies”" }).waitFor();
  assert.match(await page.locator("main table").nth(0).innerText(), /pss-restricted\/run-as-non-root/);
  await page.locator("[data-proof=verified]").waitFor();
  await page.goBack();
  await page.getByRole("list", { name: "Running chain" }).getByRole("link", { name: "approvals" }).click();
  await page.locator("[data-proof=verified]").waitFor();
  assert.match(await page.locator("h1").innerText(), /approval in prod/);
  await noViolations(page, "entry");
  await screenshot(page, "04-entry");

  // Why is this running? From the resource table's link.
  await page.goto(`${running.url}#/env/prod`);
  await page.getByRole("link", { name: "Why is Deployment/shop/web running?" }).click();
  await page.getByRole("heading", { name: /Deployment\/shop\/web in prod/ }).waitFor();
  await page.locator("[data-proof]").first().waitFor();
  const proofs = await page.locator("[data-proof]").evaluateAll((nodes) => nodes.map((n) => n.getAttribute("data-proof")));
  assert.ok(proofs.length >= 3);
  await page.waitForFunction(
    () =>
      document.querySelectorAll("[data-proof=verified]").length === document.querySelectorAll("[data-proof]").length &&
      !document.body.innerText.includes("Verifying"),
  );
  assert.match(await page.locator("main").innerText(), /approved by bob/);
  await noViolations(page, "explain");
  await screenshot(page, "05-explain");

  await page.getByRole("link", { name: "Findings" }).click();
  await page.locator("svg.plot").waitFor();
  assert.match(await page.locator("main").innerText(), /GHSA-35jh-r3h4-6jhm/);
  await noViolations(page, "findings");
  await screenshot(page, "06-findings");

  await page.getByRole("link", { name: "Approvals" }).click();
  await page.getByText("-replicas: 2").waitFor();
  const approvals = await page.locator("main").innerText();
  assert.match(approvals, /\+replicas: 3/);
  assert.ok(approvals.includes(`vigil approve --repo . --env prod --rev ${world.commits.third} --key ~/.ssh/id_ed25519`));
  await noViolations(page, "approvals");
  await screenshot(page, "07-approvals");

  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByLabel("person").fill("carol");
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByText(/^1 shown/).waitFor();
  assert.match(await page.locator("main table").first().innerText(), /approved by carol/);
  assert.equal(await page.locator("main table").first().locator("tbody tr").count(), 1);
  await page.getByText("verified").first().waitFor();
  await noViolations(page, "audit");
  await screenshot(page, "08-audit");
  assert.deepEqual(errors, []);
});

test("the page refuses a proof that does not lead to the signed checkpoint, and a checkpoint not signed by the pinned key", async (t) => {
  const context = await launchChromium(t);
  if (!context) return;
  const dir = tempDir(t);
  const world = await makeConsoleFixture(dir);
  const running = await startConsole(loadConsoleConfig(world.configFile));
  t.after(() => running.close());
  const page = await context.newPage();
  await signIn(page, running.url, world.tokens.auditor);

  // The page's own verifier, given what a lying server could send.
  const results = await page.evaluate(async (token) => {
    const modulePath: string = "/proof.js"; // the page's own module, served by the console
    const { verifyEntry } = await import(modulePath);
    const entry = await (await fetch("/api/v1/entries/3", { headers: { authorization: `Bearer ${token}` } })).json();
    const flip = (hex: string) => (hex[0] === "0" ? "1" : "0") + hex.slice(1);
    return {
      honest: await verifyEntry(entry, entry.checkpoint.note, entry.checkpoint.verifierKey),
      editedRecord: await verifyEntry(
        { ...entry, data: entry.data.replace("bob", "eve") },
        entry.checkpoint.note,
        entry.checkpoint.verifierKey,
      ),
      editedProof: await verifyEntry(
        { ...entry, proof: { ...entry.proof, hashes: [flip(entry.proof.hashes[0]), ...entry.proof.hashes.slice(1)] } },
        entry.checkpoint.note,
        entry.checkpoint.verifierKey,
      ),
      editedCheckpoint: await verifyEntry(
        entry,
        entry.checkpoint.note.replace(/\n(\d+)\n/, (_: string, n: string) => `\n${Number(n) + 1}\n`),
        entry.checkpoint.verifierKey,
      ),
    };
  }, world.tokens.auditor);
  assert.deepEqual(results.honest, { ok: true, size: 9 });
  assert.match((results.editedRecord as { reason: string }).reason, /do not hash to its leaf hash/);
  assert.match((results.editedProof as { reason: string }).reason, /leads to root/);
  assert.match((results.editedCheckpoint as { reason: string }).reason, /does not verify/);

  // A verifier key pinned at sign-in that is not the log's: every proof is refused, whatever the console says.
  const other = makeLogKey(dir, "example.com/vigil/console");
  await page.evaluate((key) => localStorage.setItem("vigil-console-verifier-key", key), other.verifierKey);
  await page.goto(`${running.url}#/entry/3`);
  await page.locator("[data-proof=refused]").waitFor();
  assert.match(await page.locator("[data-proof=refused]").innerText(), /not signed by example\.com\/vigil\/console\+/);
  await screenshot(page, "09-refused-proof");
});

test("a viewer sees environments, findings and approvals, and not the audit log; a long resource table draws a page, filters all of it, and shows all on request", async (t) => {
  const context = await launchChromium(t);
  if (!context) return;
  const world = await makeConsoleFixture(tempDir(t), { resources: 250 });
  const running = await startConsole(loadConsoleConfig(world.configFile));
  t.after(() => running.close());
  const page = await context.newPage();
  await signIn(page, running.url, world.tokens.viewer);
  assert.equal(await page.getByRole("link", { name: "Audit log" }).count(), 0);
  await page.goto(`${running.url}#/audit`);
  await page.getByText("The audit log needs the auditor role.").waitFor();
  await page.goto(running.url);
  await page.getByText("victor (viewer)").waitFor();

  await page.goto(`${running.url}#/env/prod`);
  await page.getByRole("heading", { name: "Resources (250)" }).waitFor();
  const rows = page.locator("#resources tbody tr");
  assert.equal(await rows.count(), 200);
  await page.getByLabel("Filter by name or image").fill("Deployment/shop/service-24");
  await page.waitForFunction(() => document.querySelectorAll("#resources tbody tr").length === 11);
  assert.deepEqual((await rows.allInnerTexts()).map((r) => r.split("\t")[0]).slice(0, 2), [
    "Deployment/shop/service-24",
    "Deployment/shop/service-240",
  ]);
  await page.getByLabel("Filter by name or image").fill("");
  await page.getByRole("button", { name: "Show all 250" }).click();
  await page.waitForFunction(() => document.querySelectorAll("#resources tbody tr").length === 250);
});
