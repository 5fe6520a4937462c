// @ts-check
/**
 * The conformance test app of PROTOCOL.md Appendix A, as a request handler.
 */
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { acceptWebSocket } from './websocket.js';

const MAX_TIMER = 0x7fffffff;

/**
 * Parses `name=value&...` without percent-decoding (Appendix A.1). The first
 * occurrence of a name wins.
 * @param {string} query
 * @returns {Map<string, string>}
 */
export function parseQuery(query) {
  /** @type {Map<string, string>} */
  const params = new Map();
  if (!query) return params;
  for (const item of query.split('&')) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? '' : item.slice(eq + 1);
    if (!params.has(name)) params.set(name, value);
  }
  return params;
}

/**
 * A numeric parameter (`1*DIGIT`): its value, its default when absent, or
 * null when invalid, out of range, or required and absent.
 * @param {Map<string, string>} params
 * @param {string} name
 * @param {{def?: bigint, min?: bigint, max?: bigint}} opts
 * @returns {bigint | null}
 */
function numeric(params, name, opts) {
  const raw = params.get(name);
  if (raw === undefined) return opts.def ?? null;
  if (!/^[0-9]+$/.test(raw)) return null;
  const v = BigInt(raw);
  if (opts.min !== undefined && v < opts.min) return null;
  if (opts.max !== undefined && v > opts.max) return null;
  return v;
}

/**
 * Waits `ms` milliseconds, or until `signal` aborts.
 * @param {bigint} ms
 * @param {AbortSignal} signal
 */
async function sleep(ms, signal) {
  let left = ms;
  while (left > 0n && !signal.aborted) {
    const step = left > BigInt(MAX_TIMER) ? MAX_TIMER : Number(left);
    left -= BigInt(step);
    await new Promise((resolve) => {
      const t = setTimeout(done, step);
      function done() {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve(undefined);
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * Writes a chunk and waits for backpressure to clear (or the stream to go away).
 * @param {import('./http.js').Response} res
 * @param {Buffer} chunk
 */
async function write(res, chunk) {
  if (res.write(chunk)) return;
  if (res.destroyed) return;
  await Promise.race([once(res, 'drain'), once(res, 'close')]);
}

/**
 * @param {import('./http.js').Response} res
 * @param {number} status
 * @param {string} [body]
 */
function reply(res, status, body) {
  if (body === undefined) {
    res.writeHead(status);
    res.end();
  } else {
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(body);
  }
}

/**
 * The test app of Appendix A.
 * @param {string} id the worker id
 * @param {import('./session.js').Logger} [logger]
 * @returns {import('./session.js').Handler}
 */
export function testApp(id, logger) {
  const largePattern = Buffer.alloc(65536);
  for (let i = 0; i < largePattern.length; i++) largePattern[i] = i % 256;

  return async (req, res) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const params = parseQuery(q < 0 ? '' : url.slice(q + 1));
    // HEAD on a GET route is answered as GET without a body (Appendix A.1).
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    logger?.log('info', 'request', {
      worker: id,
      stream: req.streamId,
      method: req.method,
      path: url,
      requestId: req.headers['x-request-id'],
    });
    res.on('close', () => {
      if (req.signal.aborted) {
        logger?.log('info', 'request cancelled', { worker: id, stream: req.streamId, requestId: req.headers['x-request-id'] });
      }
    });

    try {
      if (req.websocket) {
        // Appendix A.11: refused without reading, since a WebSocket's messages end only with its close.
        if (path !== '/ws/echo') return reply(res, 404, 'not found');
        const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
        const ws = acceptWebSocket(req, res, { protocol: offered.includes('echo') ? 'echo' : undefined });
        ws.on('message', (data, isBinary) => {
          const command = isBinary ? null : /^close:(\d+):?(.*)$/s.exec(/** @type {string} */ (data));
          if (command) ws.close(Number(command[1]), command[2]);
          else ws.send(data);
        });
        ws.on('error', () => {});
        await once(ws, 'close');
        return;
      }
      if (path === '/hello' && method === 'GET') {
        return reply(res, 200, `Hello from ${id}`);
      }

      if (path === '/echo' && method === 'POST') {
        const ct = req.headersDistinct['content-type'];
        res.writeHead(200, { 'content-type': ct && ct.join('') !== '' ? ct : 'application/octet-stream' });
        await pipeline(req, res);
        return;
      }

      if (path === '/headers' && (method === 'GET' || method === 'POST')) {
        /** @type {Record<string, string[]>} */
        const headers = {};
        for (const [n, v] of req.headerPairs) headers[n] = v === '' ? [''] : v.split('\0');
        const body = JSON.stringify({
          method: req.method,
          path: req.url,
          version: req.pseudo[':version'],
          host: req.host,
          scheme: req.scheme,
          headers,
        });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(Buffer.from(body, 'utf8'));
        return;
      }

      if (path.startsWith('/status/') && method === 'GET') {
        const code = path.slice('/status/'.length);
        if (!/^[0-9]{3}$/.test(code) || Number(code) < 200 || Number(code) > 599) return reply(res, 400);
        // Feature `reason-phrase` (A.5): the app's own words, as Node's statusMessage.
        const reason = params.get('reason');
        if (reason) res.statusMessage = reason.replace(/\+/g, ' ');
        return reply(res, Number(code));
      }

      if (path === '/stream' && method === 'GET') {
        const n = numeric(params, 'n', { def: 10n, min: 0n });
        const size = numeric(params, 'size', { def: 1024n, min: 1n, max: 65536n });
        if (n === null || size === null) return reply(res, 400);
        res.frameWrites = true; // one DATA frame per chunk (Appendix A.6)
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        if (n === 0n) return res.end();
        for (let k = 0n; k < n && !req.signal.aborted; k++) {
          const chunk = Buffer.alloc(Number(size), 0x61 + Number(k % 26n));
          if (k === n - 1n) res.end(chunk);
          else await write(res, chunk);
        }
        return;
      }

      if (path === '/slow' && method === 'GET') {
        const ms = numeric(params, 'ms', {});
        if (ms === null) return reply(res, 400);
        await sleep(ms, req.signal);
        if (req.signal.aborted) return; // RST_STREAM during the wait: send nothing more
        return reply(res, 200, 'slow');
      }

      if (path === '/large' && method === 'GET') {
        const bytes = numeric(params, 'bytes', { def: 1048576n, min: 0n });
        if (bytes === null) return reply(res, 400);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes) });
        let left = bytes;
        if (left === 0n) return res.end();
        while (left > 0n && !req.signal.aborted) {
          const n = left > 65536n ? 65536 : Number(left);
          left -= BigInt(n);
          const chunk = largePattern.subarray(0, n);
          if (left === 0n) res.end(chunk);
          else await write(res, chunk);
        }
        return;
      }

      if (path === '/trailers' && method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-trailer' });
        res.addTrailers({ 'x-trailer': 'done' });
        res.end('ok');
        return;
      }

      if (path === '/drain-body' && method === 'POST') {
        let count = 0n;
        for await (const chunk of req) count += BigInt(chunk.length);
        return reply(res, 200, String(count));
      }

      return reply(res, 404, 'not found');
    } catch (err) {
      if (req.signal.aborted) return; // the stream is gone; nothing to answer
      throw err;
    }
  };
}
