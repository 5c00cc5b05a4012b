// Headless Chromium (Debian's package, never a downloaded build), pages that record
// what the browser complains about, an axe-core check and screenshots.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startDemo } from './demo.mjs';

const require = createRequire(import.meta.url);
const axeSource = require('axe-core').source;

export const SCREENSHOTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../screenshots');

/**
 * Starts a demo server and a browser side by side; if either fails, stops the other so
 * that nothing keeps the test process alive.
 * @returns {Promise<{ demo: import('./demo.mjs').Demo, browser: import('playwright-core').Browser }>}
 */
export async function startDemoAndBrowser() {
  const [demo, browser] = await Promise.allSettled([startDemo(), launchBrowser()]);
  if (demo.status === 'fulfilled' && browser.status === 'fulfilled') {
    return { demo: demo.value, browser: browser.value };
  }
  if (demo.status === 'fulfilled') await demo.value.stop();
  if (browser.status === 'fulfilled') await browser.value.close();
  throw demo.status === 'rejected' ? demo.reason : /** @type {PromiseRejectedResult} */ (browser).reason;
}

/** @returns {Promise<import('playwright-core').Browser>} */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    // This machine has no network but loopback: background services would only fail.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * @typedef {object} Tab
 * @property {import('playwright-core').Page} page
 * @property {import('playwright-core').BrowserContext} context
 * @property {string[]} problems Console errors (CSP violations among them) and uncaught exceptions.
 */

/**
 * A fresh browser profile (its own cookies) with one page.
 * @param {import('playwright-core').Browser} browser
 * @param {{ width?: number, height?: number }} [viewport]
 * @returns {Promise<Tab>}
 */
export async function openTab(browser, viewport = {}) {
  const context = await browser.newContext({
    viewport: { width: viewport.width ?? 1280, height: viewport.height ?? 800 },
    locale: 'fr-FR',
    timezoneId: 'Europe/Paris',
  });
  const page = await context.newPage();
  /** @type {string[]} */
  const problems = [];
  page.on('console', (message) => {
    // An HTTP error answer (401 before login, a refused password) is logged by Chromium
    // as "Failed to load resource": that is the scenario, not a fault of the page.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`exception: ${error.message}`));
  return { page, context, problems };
}

/**
 * Runs axe-core on the page and fails on any violation, whatever its impact (WCAG 2.1
 * A/AA and axe's best practices): a « moderate » one, such as text outside any landmark,
 * is still something a screen-reader user trips over. axe is evaluated through the DevTools protocol, which the page's CSP does not govern:
 * the page itself keeps its strict CSP during the test.
 * @param {import('playwright-core').Page} page
 * @param {string} screen For the failure message.
 */
export async function assertAccessible(page, screen) {
  // A colour transition under way (a button the pointer just left) is measured half-way:
  // the check waits for the page's transitions to end, as a person's eye would.
  await page.waitForFunction(() => document.getAnimations().every((animation) => animation.playState !== 'running'));
  const loaded = await page.evaluate(() => 'axe' in window);
  if (!loaded) await page.evaluate(axeSource);
  const results = await page.evaluate(() =>
    // @ts-ignore -- injected above
    window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      resultTypes: ['violations'],
    }),
  );
  const violations = results.violations;
  const report = violations
    .map(
      (/** @type {any} */ v) =>
        `${v.id} (${v.impact}): ${v.help}\n${v.nodes.map((/** @type {any} */ n) => `  ${n.target.join(' ')}: ${n.failureSummary}`).join('\n')}`,
    )
    .join('\n');
  assert.equal(violations.length, 0, `accessibility violations on the ${screen} screen:\n${report}`);
}

/**
 * Saves a full-page screenshot under tests/browser/screenshots/.
 * @param {import('playwright-core').Page} page
 * @param {string} name File name without extension.
 */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** The sizes of the README's screenshots: a common laptop screen and a common phone. */
export const SCREEN_SIZES = [
  { width: 1366, height: 800 },
  { width: 390, height: 844 },
];

/**
 * Saves what a main screen shows at each of {@link SCREEN_SIZES}, without scrolling (what
 * a person sees first), as tests/browser/screenshots/sizes/<name>-<width>x<height>.png,
 * then gives the page its size back.
 * @param {import('playwright-core').Page} page
 * @param {string} name File name without size nor extension.
 */
export async function screenshotSizes(page, name) {
  const dir = path.join(SCREENSHOTS, 'sizes');
  mkdirSync(dir, { recursive: true });
  const before = page.viewportSize();
  for (const size of SCREEN_SIZES) {
    await page.setViewportSize(size);
    await page.screenshot({ path: path.join(dir, `${name}-${size.width}x${size.height}.png`) });
  }
  if (before) await page.setViewportSize(before);
}

/**
 * Fails if the page logged an error or threw (a CSP violation shows up here).
 * @param {Tab} tab
 */
export function assertNoProblems(tab) {
  assert.deepEqual(tab.problems, [], 'the page logged errors');
}
