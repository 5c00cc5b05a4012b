// The web client's QR codes (fingerprints, link codes, invitation links) decode to their payload with an
// independent reader (jsQR), for every size the client draws.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import jsQR from 'jsqr';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { qrMatrix } = await import(pathToFileURL(path.join(repo, 'web-client', 'js', 'qr.js')).href);

/**
 * Decodes a module matrix drawn at 4 pixels per module with a 4-module quiet zone.
 * @param {boolean[][]} matrix
 */
function decode(matrix) {
  const scale = 4;
  const size = (matrix.length + 8) * scale;
  const pixels = new Uint8ClampedArray(size * size * 4).fill(255);
  matrix.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (!dark) return;
      for (let dy = 0; dy < scale; dy += 1) {
        for (let dx = 0; dx < scale; dx += 1) {
          const offset = (((y + 4) * scale + dy) * size + (x + 4) * scale + dx) * 4;
          pixels[offset] = pixels[offset + 1] = pixels[offset + 2] = 0;
        }
      }
    }),
  );
  return jsQR(pixels, size, size)?.data ?? null;
}

const vectors = JSON.parse(readFileSync(path.join(repo, 'shared', 'vectors', 'fingerprint.json'), 'utf8'));

describe('QR codes drawn by the web client', () => {
  const payloads = [
    ...vectors.fingerprints.map((/** @type {any} */ f) => f.qr_payload),
    vectors.link_code.qr_payload,
    // An invitation link on a long public origin, with its 43-character token.
    `https://passerelle.clspd.mairie-de-saint-exemple.fr:8443/invitation#${'A-_9'.repeat(10)}xyz`,
    'passerelle',
    'x'.repeat(60),
    'é'.repeat(50),
    'y'.repeat(150),
    'z'.repeat(210),
  ];
  for (const payload of payloads) {
    test(`decodes back to a payload of ${payload.length} characters`, () => {
      const matrix = qrMatrix(payload);
      assert.equal(decode(matrix), payload);
    });
  }
});
