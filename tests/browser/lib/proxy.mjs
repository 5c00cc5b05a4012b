// A TCP relay between the browser and the server that the test can cut, as a network
// outage would: every open connection (the WebSocket among them) is reset, and new ones
// are refused, until the test restores it. The server itself keeps running, so other
// clients (the Rust SDK) go on sending meanwhile.

import { createConnection, createServer } from 'node:net';

/**
 * @typedef {object} Proxy
 * @property {string} url The address the browser uses, e.g. http://127.0.0.1:41235.
 * @property {(targetPort: number) => void} forwardTo Sets the server's port (known once started).
 * @property {() => number} cut Resets every open connection and refuses new ones; returns how many were reset.
 * @property {() => void} restore Lets connections through again.
 * @property {() => number} refused How many connections were refused since the last cut.
 * @property {() => Promise<void>} stop
 */

/**
 * Starts the relay on a free port of 127.0.0.1. Its port is chosen first so that the
 * server can be told which origin browsers use (`public_origin`).
 * @returns {Promise<Proxy>}
 */
export async function startProxy() {
  /** @type {Set<import('node:net').Socket>} */
  const open = new Set();
  let targetPort = 0;
  let down = false;
  let refused = 0;

  const server = createServer((client) => {
    if (down || targetPort === 0) {
      refused += 1;
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      // A reset is the point of a cut: not an error of the test.
      socket.on('error', () => {});
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(undefined));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    url: `http://127.0.0.1:${port}`,
    forwardTo: (target) => {
      targetPort = target;
    },
    cut: () => {
      down = true;
      refused = 0;
      const count = open.size;
      for (const socket of open) socket.resetAndDestroy();
      open.clear();
      return count;
    },
    restore: () => {
      down = false;
    },
    refused: () => refused,
    stop: async () => {
      for (const socket of open) socket.destroy();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}
