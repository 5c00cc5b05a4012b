// The browser client pins its own code: the page lists every module with its SHA-384 in
// an import map, and Chromium refuses a module that differs from its pin. The page's hash
// names the whole client; `passerelle check-client` compares a running server with it
// (docs/PROTOCOL.md §12.3, docs/OPERATIONS.md).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { assertNoProblems, openTab, startDemoAndBrowser } from './lib/browser.mjs';
import { serverBinary } from './lib/demo.mjs';

const WEB_CLIENT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web-client');
const run = promisify(execFile);

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

/** Every module of the web client, as the URL path the browser asks for. */
function modules() {
  /** @type {string[]} */
  const found = [];
  /** @param {string} dir */
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.js')) found.push(`/${path.relative(WEB_CLIENT, full).split(path.sep).join('/')}`);
    }
  };
  walk(path.join(WEB_CLIENT, 'js'));
  return found.sort();
}

/**
 * Serves the demo's client with one module changed, as a compromised server would.
 * @param {string} altered The module's URL path.
 * @returns {Promise<{ url: string, close: () => Promise<void> }>}
 */
async function tamperingServer(altered) {
  const server = createServer(async (request, response) => {
    const upstream = await fetch(`${demo.url}${request.url}`);
    let body = Buffer.from(await upstream.arrayBuffer());
    if (request.url === altered) body = Buffer.concat([body, Buffer.from('\nconsole.log("modifié");\n')]);
    response.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/plain' });
    response.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  };
}

describe('the client pins its own code', { timeout: 120_000 }, () => {
  test('the page pins every module of the client, and the app starts under its strict policy', async () => {
    const tab = await openTab(browser);
    const { page } = tab;
    const response = await page.goto(demo.url);
    const html = (await response?.text()) ?? '';
    const map = html.match(/<script type="importmap">(.*?)<\/script>/s);
    assert.ok(map, 'the page carries an import map');
    const pinned = Object.keys(JSON.parse(map[1]).integrity).sort();
    assert.deepEqual(pinned, modules(), 'every module, and nothing else, is pinned');
    assert.match(html, /<script type="module" src="\/js\/app\.js" integrity="sha384-/);
    assert.match(html, /<link rel="stylesheet" href="\/style\.css" integrity="sha384-/);
    const policy = response?.headers()['content-security-policy'] ?? '';
    assert.match(policy, /script-src 'self' 'sha256-[A-Za-z0-9+/]+=*';/);
    assert.doesNotMatch(policy, /unsafe-inline/);
    await page.getByRole('heading', { level: 1, name: 'Connexion' }).waitFor();
    assertNoProblems(tab);
    await tab.context.close();
  });

  test('a module changed by the server is refused by the browser, and the app does not start', async () => {
    const tab = await openTab(browser);
    const { page } = tab;
    await page.route('**/js/api.js', async (route) => {
      const original = await route.fetch();
      await route.fulfill({ response: original, body: `${await original.text()}\nconsole.log("modifié");\n` });
    });
    const refused = page.waitForEvent('console', (message) => /integrity/i.test(message.text()));
    await page.goto(demo.url);
    const message = await refused;
    await page.waitForLoadState('load');
    assert.match(message.text(), /api\.js/);
    assert.equal(await page.getByRole('heading', { level: 1, name: 'Connexion' }).count(), 0, 'no screen of the altered client shows');
    await tab.context.close();
  });

  test('passerelle check-client says whether a running server hands out this release’s client', async () => {
    const binary = serverBinary();
    const { stdout: published } = await run(binary, ['client-hash']);
    const same = await run(binary, ['check-client', demo.url, '--expected', published.trim()]);
    assert.match(same.stdout, /^SAME CLIENT: \d+ scripts and styles match their pins$/m);

    const tampering = await tamperingServer('/js/dom.js');
    try {
      await assert.rejects(run(binary, ['check-client', tampering.url]), (/** @type {any} */ error) => {
        assert.equal(error.code, 1);
        assert.match(error.stdout, /DIFFERS from the page's pin: \/js\/dom\.js/);
        assert.match(error.stdout, /^DIFFERENT CLIENT/m);
        return true;
      });
    } finally {
      await tampering.close();
    }
  });
});
