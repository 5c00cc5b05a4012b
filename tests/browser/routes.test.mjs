// The web client's addresses come from routes.js, generated from the server's route table
// (shared/src/protocol/v1/routes.rs, whose tests keep the file current and api.js free of
// hand-written paths). Here: `urlOf` puts each value in its place as one encoded segment.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const js = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web-client/js');
const routes = await import(pathToFileURL(path.join(js, 'routes.js')).href);
const { urlOf } = await import(pathToFileURL(path.join(js, 'api.js')).href);

test('urlOf fills the parameters of a route in order, each as one encoded segment', () => {
  assert.equal(urlOf(routes.CHANNELS), '/api/v1/channels');
  assert.equal(urlOf(routes.CHANNEL_MEMBER_REMOVE, ['c 1', 'u/2']), '/api/v1/channels/c%201/members/u%2F2');
  assert.equal(urlOf(routes.CHANNEL, ['../../admin/users?x#y']), '/api/v1/channels/..%2F..%2Fadmin%2Fusers%3Fx%23y');
  assert.equal(urlOf(routes.CHANNEL_MESSAGES, ['c'], { after_seq: '3', limit: '50' }), '/api/v1/channels/c/messages?after_seq=3&limit=50');
});

test('urlOf refuses a wrong number of values', () => {
  assert.throws(() => urlOf(routes.CHANNEL, []));
  assert.throws(() => urlOf(routes.CHANNEL, ['a', 'b']));
  assert.throws(() => urlOf(routes.CHANNELS, ['a']));
});
