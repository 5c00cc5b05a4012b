// Every error code the server can answer has the web client's own French wording
// (issue 7: "understandable French error messages for every error code"). The codes are
// read from the server's sources, so a new code without a message fails here.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { AUDIT_ACTIONS, ERROR_MESSAGES, EXCLUSION_MESSAGES, exclusionMessage } = await import(pathToFileURL(path.join(repo, 'web-client', 'js', 'labels.js')).href);
const { isFinalClose } = await import(pathToFileURL(path.join(repo, 'web-client', 'js', 'ws.js')).href);

/** @param {string} dir @returns {string[]} every .rs file under dir */
function rustFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return rustFiles(full);
    return entry.name.endsWith('.rs') ? [full] : [];
  });
}

/** The REST codes: `ApiError::code()`, the codes its Conflict/Unprocessable carry, and the refusals. */
function restCodes() {
  const codes = new Set();
  const errorRs = readFileSync(path.join(repo, 'server', 'src', 'error.rs'), 'utf8');
  const codeFn = errorRs.slice(errorRs.indexOf('pub fn code('), errorRs.indexOf('pub fn message('));
  for (const match of codeFn.matchAll(/=> "([a-z_]+)"/g)) codes.add(match[1]);
  // Passkeys and security keys (`WebauthnRefusal`), sent as `ApiError::Webauthn`.
  const webauthnStart = errorRs.indexOf('impl WebauthnRefusal');
  assert.ok(webauthnStart > 0, 'error.rs defines the WebAuthn refusals');
  const webauthnCodes = errorRs.slice(webauthnStart, errorRs.indexOf('fn message(', webauthnStart));
  for (const match of webauthnCodes.matchAll(/=> "([a-z_]+)"/g)) codes.add(match[1]);
  // The charter gate's refusals (`policy::Refusal`), sent as 403 `Blocked` and in frames.
  const policyRs = readFileSync(path.join(repo, 'server', 'src', 'policy.rs'), 'utf8');
  const refusalStart = policyRs.indexOf('impl Refusal');
  const refusalCodes = policyRs.slice(refusalStart, policyRs.indexOf('pub fn message(', refusalStart));
  assert.ok(refusalStart > 0, 'policy.rs defines the refusals');
  for (const match of refusalCodes.matchAll(/=> "([a-z_]+)"/g)) codes.add(match[1]);
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
  const end = protocol.indexOf('Close codes', start);
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
  for (const [code, message] of [...Object.entries(ERROR_MESSAGES), ...Object.entries(EXCLUSION_MESSAGES)]) {
    assert.ok(message.length > 15 && /[.!?]$|\)$/.test(message.trim()), `${code}: « ${message} »`);
    assert.ok(!/[a-z]+_[a-z]+/.test(message), `${code}: no identifier in « ${message} »`);
  }
});

/**
 * The close codes of docs/PROTOCOL.md §15.1, from its table: each code, its reasons and
 * what the client does.
 */
function closeCodes() {
  const protocol = readFileSync(path.join(repo, 'docs', 'PROTOCOL.md'), 'utf8');
  const start = protocol.indexOf('### 15.1 Close codes');
  assert.ok(start > 0, 'PROTOCOL.md §15.1 lists the close codes');
  const table = protocol.slice(start, protocol.indexOf('\n#', start + 1));
  return [...table.matchAll(/^\| (\d{4}) \| ([^|]*) \| [^|]* \| ([^|]*) \|$/gm)].map((m) => ({
    code: Number(m[1]),
    reasons: [...m[2].matchAll(/`([a-z_]+)`/g)].map((r) => r[1]),
    client: m[3].trim(),
  }));
}

test('the client stops reconnecting after exactly the closes PROTOCOL.md calls final', () => {
  const codes = closeCodes();
  assert.ok(codes.length >= 5, `the scan found the close codes (${codes.length})`);
  for (const { code, client } of codes) {
    assert.equal(isFinalClose(code), client.startsWith('final'), `${code}: « ${client} »`);
  }
});

test('every reason of a final close has its French message, and unknown ones fall back on their code', () => {
  for (const { code, reasons, client } of closeCodes().filter((c) => isFinalClose(c.code))) {
    for (const reason of reasons) {
      assert.ok(reason in EXCLUSION_MESSAGES, `close reason without a French message: ${code} ${reason}`);
      // Where the protocol quotes the text to show, it is the message's first sentence.
      const quoted = /« (.+?) »/.exec(client)?.[1];
      if (quoted) assert.ok(exclusionMessage(code, reason).startsWith(quoted), `${code} ${reason}`);
    }
  }
  assert.ok(exclusionMessage(4003, 'a_future_reason').startsWith('Votre compte a été désactivé.'));
  assert.ok(exclusionMessage(4004, 'a_future_reason').startsWith('Cette session a été fermée.'));
  assert.ok(exclusionMessage(4005, 'a_future_reason').startsWith('Cet appareil a été révoqué'));
  for (const reason of ['session_revoked', 'logged_out', 'password_changed', 'password_reset', 'mfa_reset']) {
    assert.ok(exclusionMessage(4004, reason).startsWith('Cette session a été fermée'), reason);
  }
  assert.ok(exclusionMessage(4004, 'session_expired').startsWith('Votre session a expiré.'));
});

/**
 * The text between an opening parenthesis (just before `start`) and its match.
 * @param {string} source
 * @param {number} start
 */
function callArguments(source, start) {
  let depth = 1;
  for (let i = start; i < source.length; i += 1) {
    if ('([{'.includes(source[i])) depth += 1;
    else if (')]}'.includes(source[i])) depth -= 1;
    if (depth === 0) return source.slice(start, i);
  }
  return '';
}

/**
 * Comma-separated arguments or parameters at the top level, trimmed.
 * @param {string} list
 */
function topLevelArgs(list) {
  const parts = [];
  let depth = 0;
  let current = '';
  for (const ch of list) {
    if ('([{<'.includes(ch)) depth += 1;
    else if (')]}>'.includes(ch)) depth -= 1;
    if (ch === ',' && depth === 0) {
      parts.push(current.trim());
      current = '';
    } else {
      current += ch;
    }
  }
  if (current.trim()) parts.push(current.trim());
  return parts;
}

/**
 * The actions the server writes to the access log: the action argument of every
 * `record(…)` and `record_denial(…)` call, the `ACTION` constants, and the actions chosen
 * by a `let action = if …` before a call.
 */
function auditActions() {
  const actions = new Set();
  const sources = rustFiles(path.join(repo, 'server', 'src'))
    .filter((file) => !file.endsWith('tests.rs'))
    .map((file) => readFileSync(file, 'utf8'));
  // Helpers that take the action to record (`action: &'static str`), and the literal
  // their callers pass in that position; a private helper is only called from its file.
  /** @type {Array<{ name: string, public: boolean, file: number, position: number }>} */
  const helpers = [];
  sources.forEach((source, file) => {
    for (const match of source.matchAll(/(pub(?:\(crate\))? )?(?:async )?fn (\w+)(?:<[^>]*>)?\(([^)]*)\)/g)) {
      const params = topLevelArgs(match[3]);
      // A method's callers do not pass `self`.
      const method = /^&?(mut )?self$/.test(params[0] ?? '') ? 1 : 0;
      const position = params.findIndex((param) => /^action: &'static str$/.test(param)) - method;
      if (position >= 0) helpers.push({ name: match[2], public: Boolean(match[1]), file, position });
    }
  });
  sources.forEach((source, file) => {
    for (const helper of helpers) {
      if (!helper.public && helper.file !== file) continue;
      for (const call of source.matchAll(new RegExp(`\\b${helper.name}\\(`, 'g'))) {
        const argument = topLevelArgs(callArguments(source, (call.index ?? 0) + call[0].length))[helper.position] ?? '';
        const literal = /^"([a-z]+(?:_[a-z]+)+)"$/.exec(argument);
        if (literal) actions.add(literal[1]);
      }
    }
  });
  for (const source of sources) {
    for (const match of source.matchAll(/record(?:_denial)?\(\s*[\w.]+(?:\(\))?(?:\.clone\(\))?,\s*"([a-z_]+)"/g)) actions.add(match[1]);
    for (const match of source.matchAll(/const ACTION: &str = "([a-z_]+)"/g)) actions.add(match[1]);
    for (const match of source.matchAll(/let action = if [^{]+\{\s*"([a-z_]+)"\s*\} else \{\s*"([a-z_]+)"/g)) {
      actions.add(match[1]);
      actions.add(match[2]);
    }
  }
  return actions;
}

test('every action of the access log has a French label for the auditor', () => {
  const actions = auditActions();
  assert.ok(actions.size > 50, `the scan found the actions (${actions.size})`);
  const missing = [...actions].filter((action) => !(action in AUDIT_ACTIONS)).sort();
  assert.deepEqual(missing, [], `actions without a French label in web-client/js/labels.js: ${missing.join(', ')}`);
});
