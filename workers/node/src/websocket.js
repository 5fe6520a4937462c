// @ts-check
/**
 * WebSockets (PROTOCOL.md §8.8). The router owns RFC 6455 towards the client
 * (masking, fragments, ping and pong); a handler sees whole messages, carried
 * as records in the stream's DATA: kind (0x01 text, 0x02 binary, 0x08 close),
 * a 32-bit big-endian length, the payload.
 *
 * ```js
 * import { acceptWebSocket } from 'zroute-worker';
 * serve({ id: 'w1', features: ['websocket'] }, (req, res) => {
 *   if (!req.websocket) return res.end('hi');
 *   const ws = acceptWebSocket(req, res);
 *   ws.on('message', (data, isBinary) => ws.send(isBinary ? data : data.toString()));
 * });
 * ```
 */
import { EventEmitter } from 'node:events';

export const TEXT = 0x01;
export const BINARY = 0x02;
export const CLOSE = 0x08;
/** The largest message accepted by default: the reference router's default. */
export const DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024;
const MAX_CLOSE_REASON = 123;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** @param {number} code */
export function isSendableCloseCode(code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/**
 * An accepted WebSocket. Events: `message` (data: string for text, Buffer for
 * binary; isBinary), `close` (code, reason; code 1005 when the close carried
 * none, 1006 when the stream ended without one), `error`.
 */
export class WebSocket extends EventEmitter {
  /**
   * @param {import('./http.js').Request} req
   * @param {import('./http.js').Response} res
   * @param {number} maxMessage
   */
  constructor(req, res, maxMessage) {
    super();
    this._req = req;
    this._res = res;
    this._max = maxMessage;
    /** @type {Buffer} */
    this._buf = Buffer.alloc(0);
    this._sentClose = false;
    this._closed = false;
    req.on('data', (/** @type {Buffer} */ chunk) => this._onData(chunk));
    req.on('end', () => {
      if (this._buf.length > 0) return this._fail(new Error('the stream ended inside a record'));
      // An end without a close record: a close without a code (§8.8.3).
      this._onClose(null);
    });
    req.on('aborted', () => this._finish(1006, ''));
    req.on('error', () => this._finish(1006, ''));
    const goingAway = req.goingAway;
    if (goingAway) {
      const onAway = () => this.close(1001, 'the worker is going away');
      if (goingAway.aborted) queueMicrotask(onAway);
      else {
        goingAway.addEventListener('abort', onAway, { once: true });
        this.once('close', () => goingAway.removeEventListener('abort', onAway));
      }
    }
  }

  /**
   * Sends a message: a string as text, a Buffer or Uint8Array as binary.
   * @param {string | Uint8Array} data
   * @param {(err?: Error | null) => void} [cb] called once it went out
   */
  send(data, cb) {
    if (this._sentClose) {
      const err = new Error('the WebSocket is closed');
      if (cb) queueMicrotask(() => cb(err));
      return false;
    }
    const kind = typeof data === 'string' ? TEXT : BINARY;
    const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    return this._res.write(record(kind, payload), cb);
  }

  /**
   * Closes with a code and a reason (cut to 123 bytes), then ends the
   * worker's direction; messages may still arrive until the router answers.
   * @param {number} [code]
   * @param {string} [reason]
   */
  close(code = 1000, reason = '') {
    if (this._sentClose) return;
    if (!isSendableCloseCode(code)) throw new RangeError(`close code ${code} may not be sent`);
    let r = Buffer.from(reason, 'utf8');
    // Cut at a character: a cut sequence decodes to U+FFFD, which goes too.
    if (r.length > MAX_CLOSE_REASON) r = Buffer.from(r.subarray(0, MAX_CLOSE_REASON).toString('utf8').replace(/\uFFFD+$/, ''), 'utf8');
    const payload = Buffer.alloc(2 + r.length);
    payload.writeUInt16BE(code, 0);
    r.copy(payload, 2);
    this._sendClose(payload);
  }

  /** @param {Buffer} payload */
  _sendClose(payload) {
    this._sentClose = true;
    this._res.end(record(CLOSE, payload));
  }

  /** @param {Buffer} chunk */
  _onData(chunk) {
    if (this._closed) return;
    this._buf = this._buf.length ? Buffer.concat([this._buf, chunk]) : chunk;
    while (this._buf.length >= 5) {
      const kind = this._buf[0];
      const n = this._buf.readUInt32BE(1);
      if (kind !== TEXT && kind !== BINARY && kind !== CLOSE) return this._fail(new Error(`record kind ${kind}`));
      if (n > this._max) return this._fail(new Error(`a ${n}-byte message, over ${this._max}`));
      if (this._buf.length < 5 + n) return;
      const payload = this._buf.subarray(5, 5 + n);
      this._buf = this._buf.subarray(5 + n);
      if (kind === TEXT) {
        let text;
        try {
          text = utf8.decode(payload);
        } catch {
          return this._fail(new Error('text that is not UTF-8'));
        }
        this.emit('message', text, false);
      } else if (kind === BINARY) {
        this.emit('message', Buffer.from(payload), true);
      } else {
        if (payload.length === 1 || payload.length > 2 + MAX_CLOSE_REASON) return this._fail(new Error('an invalid close'));
        if (payload.length >= 2 && !isSendableCloseCode(payload.readUInt16BE(0))) return this._fail(new Error('an invalid close code'));
        try {
          utf8.decode(payload.subarray(2));
        } catch {
          return this._fail(new Error('a close reason that is not UTF-8'));
        }
        return this._onClose(Buffer.from(payload));
      }
    }
  }

  /** @param {Buffer | null} payload the router's close, or null at an end without one */
  _onClose(payload) {
    if (this._closed) return;
    // Echo the close unless the handler closed first (§8.8.3).
    if (!this._sentClose) this._sendClose(payload ?? Buffer.alloc(0));
    const code = payload && payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    const reason = payload && payload.length > 2 ? payload.subarray(2).toString('utf8') : '';
    this._finish(code, reason);
  }

  /** @param {Error} err the router broke the record rules: the stream is reset */
  _fail(err) {
    if (this._closed) return;
    this._res.destroy(err);
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this._finish(1006, '');
  }

  /** @param {number} code @param {string} reason */
  _finish(code, reason) {
    if (this._closed) return;
    this._closed = true;
    this.emit('close', code, reason);
  }
}

/**
 * @param {number} kind
 * @param {Buffer} payload
 */
function record(kind, payload) {
  const out = Buffer.alloc(5 + payload.length);
  out[0] = kind;
  out.writeUInt32BE(payload.length, 1);
  payload.copy(out, 5);
  return out;
}

/**
 * Accepts a WebSocket request with 101 (§8.8.1). `protocol`, if given, must
 * be one the client offered (`req.headers['sec-websocket-protocol']`).
 * @param {import('./http.js').Request} req
 * @param {import('./http.js').Response} res
 * @param {{protocol?: string, maxMessage?: number}} [opts]
 */
export function acceptWebSocket(req, res, opts = {}) {
  if (!req.websocket) throw new TypeError('not a WebSocket request');
  if (opts.protocol) res.setHeader('sec-websocket-protocol', opts.protocol);
  res.statusCode = 101;
  res.flushHeaders();
  return new WebSocket(req, res, opts.maxMessage ?? DEFAULT_MAX_MESSAGE);
}
