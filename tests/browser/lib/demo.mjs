// Starts a real `passerelle demo` on a fresh data directory and reads the URL and the
// demo accounts it prints.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const ROLES = new Set(['member', 'coordinator', 'admin', 'auditor', 'external']);

/**
 * The server binary: $BROWSER_TESTS_SERVER_BIN, else the debug build in the cargo target
 * directory. (Not a PASSERELLE_* name: the server reads those as its configuration.)
 * @returns {string}
 */
export function serverBinary() {
  if (process.env.BROWSER_TESTS_SERVER_BIN) return process.env.BROWSER_TESTS_SERVER_BIN;
  const target = process.env.CARGO_TARGET_DIR
    ? path.resolve(repo, process.env.CARGO_TARGET_DIR)
    : path.join(repo, 'target');
  return path.join(target, 'debug', 'passerelle');
}

/**
 * A port free right now on 127.0.0.1.
 *
 * Why not `--listen 127.0.0.1:0`: the server derives the Origin it expects on
 * cookie-authenticated POST/PATCH/DELETE from the configured listen address, so with
 * port 0 it expects `http://127.0.0.1:0` and refuses every such request with bad_origin.
 * Until the demo records the bound port, the test picks one; a port taken in between
 * makes the start fail and {@link startDemo} tries another.
 * @returns {Promise<number>}
 */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * @typedef {object} DemoAccount
 * @property {string} login
 * @property {string} role
 * @property {string} password
 * @property {string} totpSecret base32
 *
 * @typedef {object} DemoOptions
 * @property {string} [publicOrigin] The origin browsers use when it is not the listen
 *   address (a proxy in front of the server): the server's `public_origin`.
 * @property {boolean} [requireKeys] Keep the default policy: admins and auditors must use a
 *   passkey or security key. Off otherwise, so that the other suites sign them in with
 *   TOTP alone (tests/browser/webauthn.test.mjs tests the policy).
 * @property {boolean} [sampleWeek] Seed the demo's sample week (a meeting, a field report,
 *   an ACTE referral), as `passerelle demo` does for a person trying it. Off otherwise, so
 *   that the other suites start from the accounts and the one referral alone.
 * @property {Record<string, string>} [settings] Further `PASSERELLE_*` settings (the demo
 *   leaves offline notices off; tests/browser/email-notices.test.mjs turns them on).
 *
 * @typedef {object} Demo
 * @property {string} url e.g. http://localhost:41234 (WebAuthn needs a name, not an address)
 * @property {number} port The port the server listens on.
 * @property {Record<string, DemoAccount>} accounts by login
 * @property {() => Promise<void>} crashAndRestart Kills the server (SIGKILL, as a crash)
 *   and starts it again with `passerelle serve` on the same data directory and port:
 *   accounts, sessions, keys and messages are those of the database; the demo's
 *   passwords stay as printed (only `demo` changes them).
 * @property {() => Promise<void>} stop
 */

/**
 * Starts the demo server and waits until it has printed its accounts.
 * @param {DemoOptions} [options]
 * @returns {Promise<Demo>}
 */
export async function startDemo(options = {}) {
  const binary = serverBinary();
  if (!existsSync(binary)) {
    throw new Error(`${binary} is missing: build it with \`cargo build -p passerelle-server --bin passerelle\``);
  }
  let lastError;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      return await startOnce(binary, await freePort(), options);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/**
 * @param {string} binary
 * @param {number} port
 * @param {DemoOptions} options
 * @returns {Promise<Demo>}
 */
function startOnce(binary, port, options) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'passerelle-browser-'));
  // The server reads its configuration from passerelle.toml in its working directory and
  // from every PASSERELLE_* variable, and refuses unknown keys (scripts/test.sh exports
  // PASSERELLE_TEST_DATABASE_URL, for one): the demo gets neither, only its defaults.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PASSERELLE_')));
  if (options.publicOrigin) env.PASSERELLE_PUBLIC_ORIGIN = options.publicOrigin;
  if (!options.requireKeys) env.PASSERELLE_WEBAUTHN__REQUIRED_ROLES = '[]';
  Object.assign(env, options.settings ?? {});
  const args = ['demo', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir];
  if (!options.sampleWeek) args.push('--no-sample-week');
  let child = spawn(binary, args, {
    cwd: dataDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => {
    stderr += chunk;
  });

  /** @param {NodeJS.Signals} signal */
  const kill = async (signal) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  };
  const stop = async () => {
    process.off('exit', killOnExit);
    await kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(`${dataDir}-keys`, { recursive: true, force: true });
  };
  const crashAndRestart = async () => {
    await kill('SIGKILL');
    child = spawn(binary, ['serve'], {
      cwd: dataDir,
      // The demo keeps the access log's checkpoint key beside its data directory.
      env: {
        ...env,
        PASSERELLE_DATA_DIR: dataDir,
        PASSERELLE_LISTEN: `127.0.0.1:${port}`,
        PASSERELLE_TLS: 'false',
        PASSERELLE_AUDIT__LOG_KEY_FILE: `${dataDir}-keys/audit-log.key`,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    child.stderr.setEncoding('utf8').on('data', (chunk) => {
      log += chunk;
    });
    // Ready once it answers over HTTP.
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`passerelle serve exited (${child.exitCode}):\n${log}`);
      const answered = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok, () => false);
      if (answered) return;
      if (Date.now() > deadline) throw new Error(`passerelle serve did not answer within 60 s:\n${log}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  return new Promise((resolve, reject) => {
    const fail = (/** @type {string} */ why) => {
      stop().finally(() => reject(new Error(`${why}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`)));
    };
    const onEarlyExit = (/** @type {number | null} */ code, /** @type {string | null} */ signal) =>
      fail(`passerelle demo exited early (${code ?? signal})`);
    child.once('exit', onEarlyExit);
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      stdout += chunk;
      const url = /Passerelle \(démonstration\) : (http:\/\/\S+)/.exec(stdout)?.[1];
      /** @type {Record<string, DemoAccount>} */
      const accounts = {};
      for (const line of stdout.split('\n')) {
        const [login, role, password, totpSecret, ...rest] = line.trim().split(/\s+/);
        if (rest.length === 0 && totpSecret && ROLES.has(role)) accounts[login] = { login, role, password, totpSecret };
      }
      // The banner is printed in one piece; the auditor's row is its last account.
      if (url && accounts.dpo) {
        child.off('exit', onEarlyExit);
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        resolve({ url, port, accounts, crashAndRestart, stop });
      }
    });
  });
}
