// The Rust SDK in the browser tests: tests/src/bin/passerelle-sdk-cli.rs, driven line by
// line on its stdin/stdout (one JSON line per answer).

import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The SDK driver binary, built when missing. */
export function sdkCli() {
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(repo, process.env.CARGO_TARGET_DIR) : path.join(repo, 'target');
  const binary = path.join(target, 'debug', 'passerelle-sdk-cli');
  if (!existsSync(binary)) {
    execFileSync('cargo', ['build', '-p', 'passerelle-tests', '--bin', 'passerelle-sdk-cli'], { cwd: repo, stdio: 'inherit' });
  }
  return binary;
}

/**
 * Starts the SDK process.
 * @param {string} binary
 * @param {string[]} args
 */
export function startSdk(binary, args) {
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
