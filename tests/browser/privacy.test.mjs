// The anonymity reminder of practice-analysis sessions (web-client/js/privacy.js, CHARTER.md
// C9) against the hand-labelled French sentences shared with the server's check
// (shared/privacy/sentences.json): every identifying sentence is pointed out, each finding
// is the labelled one, and the false alarms on harmless sentences are counted and bounded.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { findPersonalData } = await import(pathToFileURL(path.join(repo, 'web-client', 'js', 'privacy.js')).href);
/** @type {{ sentences: { text: string, identifying: boolean, browser: string[] }[] }} */
const corpus = JSON.parse(readFileSync(path.join(repo, 'shared', 'privacy', 'sentences.json'), 'utf8'));

/** @param {string} text */
const kindsIn = (text) => [...new Set(findPersonalData(text).map((/** @type {{ kind: string }} */ f) => f.kind))].sort();

describe('the anonymity reminder of practice-analysis sessions', () => {
  test('the corpus has at least 50 sentences, with and without identifying data', () => {
    assert.ok(corpus.sentences.length >= 50);
    assert.ok(corpus.sentences.filter((s) => s.identifying).length >= 25);
    assert.ok(corpus.sentences.filter((s) => !s.identifying).length >= 25);
  });

  for (const sentence of corpus.sentences) {
    test(`finds ${sentence.browser.length ? sentence.browser.join(', ') : 'nothing'} in « ${sentence.text} »`, () => {
      assert.deepEqual(kindsIn(sentence.text), [...sentence.browser].sort());
    });
  }

  test('misses no identifying sentence, and raises few false alarms', () => {
    const missed = corpus.sentences.filter((s) => s.identifying && kindsIn(s.text).length === 0);
    assert.deepEqual(missed.map((s) => s.text), []);
    const harmless = corpus.sentences.filter((s) => !s.identifying);
    const falseAlarms = harmless.filter((s) => kindsIn(s.text).length > 0);
    // Counted, not hidden: dates, ages and durations in harmless sentences.
    assert.ok(falseAlarms.length / harmless.length <= 0.1, `${falseAlarms.length} false alarms out of ${harmless.length}: ${falseAlarms.map((s) => s.text).join(' | ')}`);
  });
});
