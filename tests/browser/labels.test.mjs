// Every error code the server can answer has the web client's own French wording
// (issue 7: "understandable French error messages for every error code"). The codes are
// read from the server's sources, so a new code without a message fails here.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { ERROR_MESSAGES } = await import(pathToFileURL(path.join(repo, 'web-client', 'js', 'labels.js')).href);

/** @param {string} dir @returns {string[]} every .rs file under dir */
function rustFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return rustFiles(full);
    return entry.name.endsWith('.rs') ? [full] : [];
  });
}

/** The REST codes: `ApiError::code()` and the codes its Conflict/Unprocessable/Blocked carry. */
function restCodes() {
  const codes = new Set();
  const errorRs = readFileSync(path.join(repo, 'server', 'src', 'error.rs'), 'utf8');
  const codeFn = errorRs.slice(errorRs.indexOf('pub fn code('), errorRs.indexOf('pub fn message('));
  for (const match of codeFn.matchAll(/=> "([a-z_]+)"/g)) codes.add(match[1]);
  for (const file of rustFiles(path.join(repo, 'server', 'src'))) {
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/(?:Conflict|Unprocessable|Blocked)\(\s*"([a-z_]+)"\s*\)/g)) codes.add(match[1]);
  }
  return codes;
}

/** The WebSocket refusal codes, as docs/PROTOCOL.md §15 lists them. */
function frameCodes() {
  const protocol = readFileSync(path.join(repo, 'docs', 'PROTOCOL.md'), 'utf8');
  const start = protocol.indexOf('Refusal codes of `error` frames include');
  const end = protocol.indexOf('Close codes:', start);
  assert.ok(start > 0 && end > start, 'PROTOCOL.md §15 lists the refusal codes');
  return new Set([...protocol.slice(start, end).matchAll(/`([a-z_]+)`/g)].map((m) => m[1]).filter((c) => c !== 'error'));
}

test('every REST error code of the server has a French message in the client', () => {
  const codes = restCodes();
  assert.ok(codes.size > 40, `the scan found the codes (${codes.size})`);
  const missing = [...codes].filter((code) => !(code in ERROR_MESSAGES)).sort();
  assert.deepEqual(missing, [], `codes without a French message in web-client/js/labels.js: ${missing.join(', ')}`);
});

test('every WebSocket refusal code has a French message in the client', () => {
  const missing = [...frameCodes()].filter((code) => !(code in ERROR_MESSAGES)).sort();
  assert.deepEqual(missing, [], `frame codes without a French message: ${missing.join(', ')}`);
});

test('the messages are French sentences, not codes', () => {
  for (const [code, message] of Object.entries(ERROR_MESSAGES)) {
    assert.ok(message.length > 15 && /[.!?]$|\)$/.test(message.trim()), `${code}: « ${message} »`);
    assert.ok(!/[a-z]+_[a-z]+/.test(message), `${code}: no identifier in « ${message} »`);
  }
});
