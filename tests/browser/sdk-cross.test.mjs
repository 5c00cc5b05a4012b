// The cross test of issue 7: a message sent by the Rust SDK is read in the browser, and
// the reverse. The coordinator works in the browser; the police officer is the SDK
// (tests/src/bin/passerelle-sdk-cli.rs), driven line by line on its stdin/stdout.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { assertNoProblems, openTab, screenshot, startDemoAndBrowser } from './lib/browser.mjs';
import { logInReady } from './lib/flows.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The SDK driver binary, built when missing. */
function sdkCli() {
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(repo, process.env.CARGO_TARGET_DIR) : path.join(repo, 'target');
  const binary = path.join(target, 'debug', 'passerelle-sdk-cli');
  if (!existsSync(binary)) {
    execFileSync('cargo', ['build', '-p', 'passerelle-tests', '--bin', 'passerelle-sdk-cli'], { cwd: repo, stdio: 'inherit' });
  }
  return binary;
}

/**
 * The SDK process: one JSON line per answer.
 * @param {string} binary
 * @param {string[]} args
 */
function startSdk(binary, args) {
  const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  /** @type {string[]} */
  const lines = [];
  /** @type {((line: string | null) => void)[]} */
  const waiting = [];
  let ended = false;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const next = waiting.shift();
    if (next) next(line); else lines.push(line);
  });
  child.on('exit', () => {
    ended = true;
    for (const next of waiting.splice(0)) next(null);
  });
  /** @returns {Promise<any>} */
  const nextAnswer = (timeoutMs = 60_000) => new Promise((resolve, reject) => {
    const ready = lines.shift();
    if (ready !== undefined) { resolve(JSON.parse(ready)); return; }
    if (ended) { reject(new Error(`passerelle-sdk-cli ended: ${stderr}`)); return; }
    const timer = setTimeout(() => reject(new Error(`passerelle-sdk-cli: no answer within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
    waiting.push((line) => {
      clearTimeout(timer);
      if (line === null) reject(new Error(`passerelle-sdk-cli ended: ${stderr}`));
      else resolve(JSON.parse(line));
    });
  });
  return {
    child,
    nextAnswer,
    /** @param {string} line */
    async command(line) {
      child.stdin.write(`${line}\n`);
      return nextAnswer();
    },
    stop() {
      if (!ended) { child.stdin.end(); child.kill(); }
    },
  };
}

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./lib/browser.mjs').Tab | undefined} */
let tab;
/** @type {ReturnType<typeof startSdk> | undefined} */
let sdk;
let binary = '';

before(async () => {
  binary = sdkCli();
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  sdk?.stop();
  await tab?.context.close().catch(() => {});
  await browser?.close();
  await demo?.stop();
});

describe('the Rust SDK and the browser read each other', { timeout: 240_000 }, () => {
  test('a message sent by the SDK is read in the browser, and the reverse', async () => {
    tab = await openTab(browser);
    const { page } = tab;
    await logInReady(page, demo.url, demo.accounts.coordinatrice);

    // The coordinator creates a working group with the police officer, and accepts its rules.
    await page.getByRole('link', { name: 'Créer un canal' }).first().click();
    await page.getByRole('heading', { level: 1, name: 'Créer un canal' }).waitFor();
    await page.getByLabel('Nom', { exact: true }).fill('Échange avec le SDK');
    await page.getByLabel('Police nationale (commissariat)', { exact: true }).check();
    await page.getByLabel(/^Karim Benali/).check();
    await page.getByRole('button', { name: 'Créer le canal' }).click();
    await page.waitForURL(/\/canal\//);
    const channelId = page.url().split('/').pop() ?? '';
    assert.ok(channelId, 'the channel id is in the address');
    await page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter').check();
    await page.getByRole('button', { name: /^Accepter le règlement/ }).click();
    await page.getByLabel('Votre message').waitFor();

    // The police officer is the SDK (an account the browser never logs into).
    const officer = demo.accounts.policier;
    sdk = startSdk(binary, ['exchange', demo.url, officer.login, officer.password, officer.totpSecret, channelId]);
    assert.deepEqual(await sdk.nextAnswer(), { ready: true });

    const sent = await sdk.command('send Bonjour depuis le SDK');
    assert.equal(typeof sent.sent, 'number');
    const messages = page.getByTestId('messages');
    await messages.getByText('Bonjour depuis le SDK').waitFor();

    await page.getByLabel('Votre message').fill('Réponse du navigateur');
    await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    const read = await sdk.command('read 1');
    assert.deepEqual(read, { messages: ['Réponse du navigateur'] });

    await screenshot(page, 'sdk-cross');
    assertNoProblems(tab);
  });
});
