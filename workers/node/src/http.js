// @ts-check
/**
 * The HTTP mapping of PROTOCOL.md §8 onto Node idioms: a Readable request and a
 * Writable response, close to node:http's IncomingMessage and ServerResponse.
 *
 * The session drives these objects through a small "stream port" interface
 * (see session/streams.js): the request pulls body chunks from the port (which grants
 * flow-control credit only as the handler reads), and the response hands DATA,
 * SYN_REPLY and trailers to the port, which applies the response windows.
 */
import { Readable, Writable } from 'node:stream';
import { checkName, isValidValue } from './codec.js';

/** Header fields that must never appear on a stream (§8.4), `te` handled apart. */
export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * Is this pair forbidden on a stream (§8.4)?
 * @param {string} name lowercase
 * @param {string} value
 */
export function isForbiddenField(name, value) {
  return HOP_BY_HOP.has(name) || (name === 'te' && value !== 'trailers');
}

/**
 * @typedef {object} StreamPort  what the session offers a request/response pair
 * @property {number} id
 * @property {() => void} wantData       the request wants the next chunk
 * @property {(pairs: [string, string][], fin: boolean) => void} sendReply
 * @property {(data: Buffer, opts: {fin: boolean, atomic: boolean}, cb: (err?: Error | null) => void) => void} sendData
 * @property {(pairs: [string, string][], cb: (err?: Error | null) => void) => void} sendTrailers
 * @property {(err: Error) => void} fail   the handler failed (500 or RST INTERNAL_ERROR)
 * @property {() => boolean} isClosed
 */

/**
 * A request: a Readable of the request body, with the request head.
 *
 * Extra over node:http: `signal` (an AbortSignal that fires when the stream is
 * reset or the session is lost), `streamId`, `scheme`, `host`, `headerPairs`
 * (the non-pseudo pairs of the block as on the wire, minus `host`), and
 * `pseudo` (the pseudo-headers).
 */
export class Request extends Readable {
  /**
   * @param {StreamPort} port
   * @param {{pairs: [string, string][], priority: number, signal: AbortSignal, fin: boolean, goingAway?: AbortSignal}} init
   */
  constructor(port, init) {
    // highWaterMark 0: a chunk is pulled from the session (and credited) only
    // when the consumer asks for it.
    super({ highWaterMark: 0 });
    this._port = port;
    this.streamId = port.id;
    this.signal = init.signal;
    this.priority = init.priority;
    /** @type {Record<string, string>} */
    this.pseudo = {};
    /** @type {[string, string][]} */
    this.headerPairs = [];
    for (const [n, v] of init.pairs) {
      if (n.startsWith(':')) this.pseudo[n] = v;
      else if (n !== 'host') this.headerPairs.push([n, v]); // §8.2: a receiver ignores `host`
    }
    this.method = this.pseudo[':method'];
    /** A WebSocket stream (`:protocol: websocket`, §8.8.1): see websocket.js. */
    this.websocket = this.pseudo[':protocol'] === 'websocket';
    /** Aborted when the worker drains. */
    this.goingAway = init.goingAway;
    this.url = this.pseudo[':path'];
    this.host = this.pseudo[':host'];
    this.scheme = this.pseudo[':scheme'];
    const version = this.pseudo[':version'] ?? 'HTTP/1.1';
    const m = /^HTTP\/(\d)(?:\.(\d))?$/.exec(version);
    this.httpVersionMajor = m ? Number(m[1]) : 1;
    this.httpVersionMinor = m && m[2] !== undefined ? Number(m[2]) : m ? 0 : 1;
    this.httpVersion = `${this.httpVersionMajor}.${this.httpVersionMinor}`;
    const distinct = splitPairs(this.headerPairs);
    /** Each field's NUL-separated segments, in order (§8.1). */
    this.headersDistinct = distinct;
    /** node:http style: segments joined with ", " ("; " for cookie), set-cookie as an array, plus `host`. */
    this.headers = joinHeaders(distinct);
    if (this.host !== undefined) this.headers.host = this.host;
    this.rawHeaders = flatten(distinct);
    /** @type {Record<string, string>} */
    this.trailers = {};
    /** @type {Record<string, string[]>} */
    this.trailersDistinct = {};
    /** @type {string[]} */
    this.rawTrailers = [];
    this.complete = false;
    this.aborted = false;
    this.on('end', () => {
      this.complete = true;
    });
  }

  _read() {
    this._port.wantData();
  }

  /** @internal called by the session with request trailers */
  _setTrailers(/** @type {[string, string][]} */ pairs) {
    const d = splitPairs(pairs);
    this.trailersDistinct = d;
    this.trailers = joinHeaders(d);
    this.rawTrailers = flatten(d);
  }

  /** @internal the stream was reset or the session lost */
  _abort(/** @type {Error} */ reason) {
    if (this.destroyed) return;
    this.aborted = true;
    this.emit('aborted');
    // Only surface an error to code that listens for one: an unhandled
    // 'error' would crash the process.
    if (this.listenerCount('error') > 0 && !this.readableEnded) this.destroy(reason);
    else this.destroy();
  }
}

/**
 * @param {[string, string][]} pairs
 * @returns {Record<string, string[]>}
 */
function splitPairs(pairs) {
  /** @type {Record<string, string[]>} */
  const out = Object.create(null);
  for (const [n, v] of pairs) out[n] = v === '' ? [''] : v.split('\0');
  return out;
}

/** @param {Record<string, string[]>} d */
function joinHeaders(d) {
  /** @type {Record<string, any>} */
  const out = {};
  for (const [n, segs] of Object.entries(d)) {
    if (n === 'set-cookie') out[n] = segs.slice();
    else out[n] = segs.join(n === 'cookie' ? '; ' : ', ');
  }
  return out;
}

/** @param {Record<string, string[]>} d */
function flatten(d) {
  /** @type {string[]} */
  const out = [];
  for (const [n, segs] of Object.entries(d)) for (const s of segs) out.push(n, s);
  return out;
}

/** An error thrown for invalid response heads or trailers. */
export class HeaderError extends TypeError {
  /** @param {string} message @param {string} code */
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/**
 * Turns a header value as node:http accepts it into one wire value: several
 * values are joined with NUL, empty ones omitted (§8.1).
 * @param {string} name
 * @param {unknown} value
 */
function wireValue(name, value) {
  const list = Array.isArray(value) ? value : [value];
  const segs = [];
  for (const v of list) {
    const s = String(v);
    if (s === '') continue;
    if (/[\r\n\0]/.test(s)) throw new HeaderError(`invalid character in header ${name}`, 'ERR_INVALID_CHAR');
    segs.push(s);
  }
  return segs.join('\0');
}

/**
 * @param {string} name
 */
function normaliseName(name) {
  const n = String(name).toLowerCase();
  if (n.startsWith(':')) throw new HeaderError(`pseudo-header ${n} cannot be set`, 'ERR_INVALID_HTTP_TOKEN');
  const err = checkName(n);
  if (err) throw new HeaderError(`invalid header name ${JSON.stringify(name)}`, 'ERR_INVALID_HTTP_TOKEN');
  return n;
}

/**
 * A response: a Writable of the response body, with node:http's head API
 * (`statusCode`, `setHeader`, `writeHead`, `flushHeaders`, `addTrailers`,
 * `headersSent`).
 *
 * Each `write()` completes (its callback runs, and backpressure is released)
 * only once its bytes went out as DATA frames, which needs room in the
 * response flow-control windows (§11.2).
 *
 * With `frameWrites = true`, each write of at most 65,536 bytes goes out as one
 * DATA frame of its own: the response waits for window space rather than split
 * it, unless it is larger than the router's stream window can ever be
 * (Appendix A.6).
 */
export class Response extends Writable {
  /**
   * @param {StreamPort} port
   * @param {{method: string, signal: AbortSignal, websocket?: boolean, log?: (msg: string, fields?: object) => void}} init
   */
  constructor(port, init) {
    super({ highWaterMark: 16384 });
    this._port = port;
    this._method = init.method;
    this._websocket = init.websocket ?? false;
    this._log = init.log ?? (() => {});
    this.signal = init.signal;
    this.statusCode = 200;
    /** @type {string | undefined} */
    this.statusMessage = undefined;
    this.headersSent = false;
    this.frameWrites = false;
    /** @type {Map<string, unknown>} */
    this._headers = new Map();
    /** @type {[string, string][] | null} */
    this._trailers = null;
    this._finSent = false;
    this._endingWithChunk = false;
    this._bytes = 0n;
    /** @type {bigint | null} */
    this._contentLength = null;
    // Errors of the response are reported by the session (500 or RST); keep an
    // unlistened 'error' from crashing the process.
    this.on('error', (err) => this._log('response error', { error: String(err && err.message) }));
  }

  get finished() {
    return this.writableEnded;
  }

  /** @param {string} name @param {unknown} value */
  setHeader(name, value) {
    if (this.headersSent) throw new HeaderError('headers already sent', 'ERR_HTTP_HEADERS_SENT');
    const n = normaliseName(name);
    wireValue(n, value); // validate now, as node:http does
    this._headers.set(n, value);
    return this;
  }

  /** @param {string} name */
  getHeader(name) {
    return this._headers.get(String(name).toLowerCase());
  }

  /** @param {string} name */
  hasHeader(name) {
    return this._headers.has(String(name).toLowerCase());
  }

  /** @param {string} name */
  removeHeader(name) {
    if (this.headersSent) throw new HeaderError('headers already sent', 'ERR_HTTP_HEADERS_SENT');
    this._headers.delete(String(name).toLowerCase());
  }

  getHeaderNames() {
    return [...this._headers.keys()];
  }

  getHeaders() {
    return Object.fromEntries(this._headers);
  }

  /**
   * @param {number} statusCode
   * @param {string | Record<string, unknown> | [string, unknown][]} [reason]
   * @param {Record<string, unknown> | [string, unknown][]} [headers]
   */
  writeHead(statusCode, reason, headers) {
    if (this.headersSent) throw new HeaderError('headers already sent', 'ERR_HTTP_HEADERS_SENT');
    if (typeof reason !== 'string') {
      headers = reason;
      reason = undefined;
    }
    this.statusCode = statusCode;
    if (typeof reason === 'string') this.statusMessage = reason;
    if (headers) {
      const entries = Array.isArray(headers) ? headers : Object.entries(headers);
      for (const [k, v] of entries) this.setHeader(k, v);
    }
    return this;
  }

  /** Sends the SYN_REPLY now, without FIN. */
  flushHeaders() {
    if (!this.headersSent) this._sendHead(false);
  }

  /**
   * Response trailers, sent in a HEADERS frame with FIN after the body (§8.7).
   * Must be called before `end()`.
   * @param {Record<string, unknown> | [string, unknown][]} headers
   */
  addTrailers(headers) {
    const entries = Array.isArray(headers) ? headers : Object.entries(headers);
    /** @type {[string, string][]} */
    const pairs = this._trailers ?? [];
    for (const [k, v] of entries) {
      const n = normaliseName(k);
      const value = wireValue(n, v);
      if (isForbiddenField(n, value) || n === 'host') {
        this._log('dropping forbidden trailer field', { name: n });
        continue;
      }
      const i = pairs.findIndex(([pn]) => pn === n);
      if (i >= 0) pairs[i] = [n, value];
      else pairs.push([n, value]);
    }
    this._trailers = pairs;
  }

  /** No body may be sent: HEAD, 204, 304 (§8.6). */
  get _noBody() {
    return this._method === 'HEAD' || this.statusCode === 204 || this.statusCode === 304;
  }

  /** @param {boolean} fin */
  _sendHead(fin) {
    const code = this.statusCode;
    const accepts = code === 101 && this._websocket; // §8.8.1
    if (!accepts && (!Number.isInteger(code) || code < 200 || code > 599)) {
      throw new RangeError(`invalid status code ${code}: zroute v1 responses are 200 to 599 (§8.3)`);
    }
    let status = String(code);
    if (this.statusMessage) {
      if (/[\r\n\0]/.test(this.statusMessage)) throw new HeaderError('invalid status message', 'ERR_INVALID_CHAR');
      status += ` ${this.statusMessage}`;
    }
    /** @type {[string, string][]} */
    const pairs = [
      [':status', status],
      [':version', 'HTTP/1.1'],
    ];
    for (const [n, v] of this._headers) {
      const value = wireValue(n, v);
      if (isForbiddenField(n, value) || n === 'host') {
        this._log('dropping forbidden response header field', { name: n });
        continue;
      }
      if (n === 'content-length') {
        if (!/^\d+$/.test(value)) throw new HeaderError(`invalid content-length ${value}`, 'ERR_HTTP_INVALID_HEADER_VALUE');
        this._contentLength = BigInt(value);
      }
      pairs.push([n, value]);
    }
    this.headersSent = true;
    this._port.sendReply(pairs, fin);
    if (fin) this._finSent = true;
  }

  /** @param {boolean} final */
  _checkLength(final) {
    // The content-length rule does not apply to HEAD responses and 304 (§8.6).
    if (this._contentLength === null || this._method === 'HEAD' || this.statusCode === 304) return null;
    if (this._bytes > this._contentLength) return new Error('response body longer than its content-length');
    if (final && this._bytes !== this._contentLength) return new Error('response body shorter than its content-length');
    return null;
  }

  /**
   * @param {any} [chunk]
   * @param {any} [encoding]
   * @param {any} [cb]
   */
  end(chunk, encoding, cb) {
    if (typeof chunk !== 'function' && chunk !== undefined && chunk !== null) this._endingWithChunk = true;
    return super.end(chunk, encoding, cb);
  }

  /**
   * @param {Buffer} chunk
   * @param {BufferEncoding} _enc
   * @param {(err?: Error | null) => void} cb
   */
  _write(chunk, _enc, cb) {
    if (this._port.isClosed()) return cb();
    try {
      // HEAD, 204 and 304 send no body: when end(chunk) brings the head, FIN goes on
      // SYN_REPLY (Section 8.6 SHOULD) instead of on an extra empty DATA frame.
      const last = this._endingWithChunk && this.writableLength === chunk.length;
      if (!this.headersSent && this._noBody && last) {
        this._sendHead(true);
        return cb();
      }
      if (!this.headersSent) this._sendHead(false);
    } catch (err) {
      return cb(/** @type {Error} */ (err));
    }
    if (this._finSent || this._noBody || chunk.length === 0) return cb();
    this._bytes += BigInt(chunk.length);
    const lengthErr = this._checkLength(false);
    if (lengthErr) return cb(lengthErr);
    // end(chunk): the last chunk carries FIN unless trailers follow.
    const last = this._endingWithChunk && this.writableLength === chunk.length;
    const fin = last && !this._trailers && this._checkLength(true) === null;
    if (fin) this._finSent = true;
    this._port.sendData(chunk, { fin, atomic: this.frameWrites }, cb);
  }

  /** @param {(err?: Error | null) => void} cb */
  _final(cb) {
    if (this._port.isClosed()) return cb();
    try {
      const lengthErr = this._checkLength(true);
      if (lengthErr) return cb(lengthErr);
      if (!this.headersSent) {
        if (this._trailers && !this._noBody) {
          this._sendHead(false);
        } else {
          this._sendHead(true);
          return cb();
        }
      }
      if (this._finSent) return cb();
      this._finSent = true;
      if (this._trailers && !this._noBody) this._port.sendTrailers(this._trailers, cb);
      else this._port.sendData(Buffer.alloc(0), { fin: true, atomic: false }, cb);
    } catch (err) {
      cb(/** @type {Error} */ (err));
    }
  }

  /**
   * @param {Error | null} err
   * @param {(err?: Error | null) => void} cb
   */
  _destroy(err, cb) {
    if (err && !this._port.isClosed()) this._port.fail(err);
    else if (!err && !this.writableFinished && !this._port.isClosed()) {
      // Destroyed by the handler before it ended the response.
      this._port.fail(new Error('response destroyed before it ended'));
    }
    cb(err);
  }
}
