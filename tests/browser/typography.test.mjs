// The French typography helper of the web client's interface texts.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { fr } = await import(pathToFileURL(path.join(repo, 'web-client', 'js', 'typography.js')).href);

test('a narrow no-break space goes before « ; : ! ? » and inside guillemets', () => {
  assert.equal(fr('Fermer cette session ?'), 'Fermer cette session\u202F?');
  assert.equal(fr('Motif : « fin de mission » ; merci!'), 'Motif\u202F: «\u202Ffin de mission\u202F»\u202F; merci\u202F!');
  assert.equal(fr('«Mon code»'), '«\u202FMon code\u202F»');
});

test('what is not punctuation of a sentence is left alone', () => {
  for (const text of ['https://passerelle.example/canal/1', '12:30', 'passerelle:link:v1:abc', 'Déjà\u202F: correct']) {
    assert.equal(fr(text), text);
  }
});
