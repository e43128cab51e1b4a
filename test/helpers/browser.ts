// Debian's Chromium, headless, driven by playwright-core (its own browsers cannot be downloaded here):
// a fresh profile per launch, no network beyond what the page asks for, screenshots kept as artefacts
// of the test run, and axe-core's accessibility check injected into the page.
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { requireTools, tempDir } from "./tools.ts";

export const CHROMIUM = "/usr/bin/chromium";
export const ARTIFACTS = join(import.meta.dirname, "..", "..", ".cache", "test-artifacts", "console");
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Chromium for a test, closed when it ends; undefined when skipped (Chromium missing outside CI; in CI a failure). */
export async function launchChromium(t: TestContext): Promise<BrowserContext | undefined> {
  if (!requireTools(t, ["chromium"])) return undefined;
  return openChromium(t);
}

/** Chromium with a fresh user-data-dir, closed with `scope`. The console's certificate is made at each start, so it is not checked here. */
export async function openChromium(scope: { after(fn: () => unknown): void }): Promise<BrowserContext> {
  const profile = tempDir(scope, "vigil-chromium-");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    ignoreHTTPSErrors: true,
  });
  // The machines running the suite are shared and often loaded: a page that is slow there is not broken.
  context.setDefaultTimeout(90_000);
  scope.after(() => context.close());
  return context;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** axe-core's violations on the page as it is now (WCAG 2.1 A and AA rules, and best practices). */
export async function axeViolations(page: Page): Promise<{ id: string; impact: string; help: string; nodes: string[] }[]> {
  // Evaluated through the DevTools protocol, so the page's Content-Security-Policy does not stop it.
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: {
          run(
            context: Document,
            options: object,
          ): Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }>;
        };
      }
    ).axe;
    const result = await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
    }));
  });
}
