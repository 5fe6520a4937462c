// @ts-check
import { Worker } from './worker.js';

export * from './codec.js';
export { Request, Response, HeaderError, isForbiddenField } from './http.js';
export { Session } from './session.js';
export { Worker, DEFAULT_ENDPOINT, isValidRoute, isValidWorkerId, jsonLogger, silentLogger } from './worker.js';
export { testApp } from './testapp.js';
export { acceptWebSocket, WebSocket, TEXT, BINARY, CLOSE, DEFAULT_MAX_MESSAGE } from './websocket.js';
export { loadCurve, readServerKey, curveFromEnv } from './curve.js';
export { parseEndpoint, parseNameserver, lookupEndpoint, nextLookupWait, Discovery, LookupError, DEFAULT_RESOLVE_INTERVAL } from './discovery.js';

/**
 * Creates and starts a worker: the shortest way to serve HTTP over zroute.
 *
 * ```js
 * import { serve } from 'zroute-worker';
 * serve({ id: 'w1' }, (req, res) => res.end('hi'));
 * ```
 * @param {Omit<import('./worker.js').WorkerOptions, 'handler'>} opts
 * @param {import('./session.js').Handler} handler
 */
export function serve(opts, handler) {
  return new Worker({ ...opts, handler }).start();
}
