// @ts-check
/**
 * One worker session on one DEALER socket (PROTOCOL.md §9): handshake,
 * heartbeats, streams (§10), flow control in both directions (§11), capacity
 * (§11.6), drain (§9.7) and the reactions to the router's GOAWAY (§9.3, §9.8,
 * §9.10).
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import * as zmq from 'zeromq';
import {
  decodeFrame,
  encodeFrame,
  describeFrame,
  reactionFor,
  effectiveGoawayCode,
  effectiveRstCode,
  rstName,
  goawayName,
  FrameError,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  GOAWAY,
  RST,
  SETTING,
  MAX_PAYLOAD,
  MAX_WINDOW,
  PROTOCOL_VERSION,
} from './codec.js';
import { Request, Response, isForbiddenField } from './http.js';

/** The session windows start at 65,536 in both directions (§11.1). */
const INITIAL_SESSION_WINDOW = 65536;
/** setTimeout cannot wait longer than this. */
const MAX_TIMER = 0x7fffffff;
const REQUIRED_PSEUDO = [':method', ':path', ':version', ':host', ':scheme'];

/**
 * @typedef {(req: Request, res: Response) => unknown} Handler
 *
 * @typedef {object} Logger
 * @property {(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void} log
 *
 * @typedef {object} SessionOptions
 * @property {string} endpoint
 * @property {[string, string][]} attributes  HELLO attributes, `id` first
 * @property {number} capacity                Max-Concurrent-Streams of HELLO
 * @property {number} initialWindowSize       Initial-Window-Size of HELLO
 * @property {number} sessionWindow           the session receive window to keep (raised after WELCOME if > 65,536)
 * @property {Handler} handler
 * @property {Logger} logger
 * @property {number} handshakeTimeout        ms (§9.2: 3,000)
 * @property {number} maxPairs                pair limit for received blocks (§7.4)
 * @property {number} linger                  ZMQ_LINGER in ms
 * @property {import('./curve.js').CurveOptions} [curve] CURVE keys (§14.1)
 * @property {number} [closeFlushTimeout]     how long to wait for queued frames before closing
 *
 * @typedef {object} PendingItem
 * @property {Buffer} [data]
 * @property {number} off
 * @property {boolean} fin
 * @property {boolean} atomic
 * @property {[string, string][]} [trailers]
 * @property {(err?: Error | null) => void} cb
 *
 * @typedef {object} StreamState
 * @property {number} id
 * @property {boolean} recvClosed     the router's FIN arrived
 * @property {boolean} sendClosed     the worker's FIN went out
 * @property {boolean} closed
 * @property {boolean} replySent
 * @property {number} recvWindow
 * @property {number} sendWindow
 * @property {number} unacked         consumed request bytes not yet credited to the stream window
 * @property {Buffer[]} inbox         received request bytes not yet delivered
 * @property {number} inboxBytes
 * @property {boolean} wants          the request asked for data that has not arrived
 * @property {boolean} endPushed
 * @property {bigint} received
 * @property {bigint | null} contentLength
 * @property {PendingItem[]} pending  response items waiting for window space
 * @property {AbortController} abort
 * @property {Request} req
 * @property {Response} res
 */

/** How long a CURVE socket may wait for a connection before it is replaced (ms). */
const CURVE_CONNECT_TIMEOUT = 3000;

export class Session extends EventEmitter {
  /** @param {SessionOptions} opts */
  constructor(opts) {
    super();
    this.opts = opts;
    this.endpoint = opts.endpoint;
    /** @type {'connecting' | 'hello-sent' | 'established' | 'draining' | 'closed'} */
    this.state = 'connecting';
    /** @type {'worker' | 'router' | null} */
    this.drainedBy = null;
    /** @type {zmq.Dealer | null} */
    this.socket = null;
    this.workerId = opts.attributes.find(([n]) => n === 'id')?.[1] ?? '';
    /** WELCOME parameters and attributes */
    this.interval = 1000;
    this.liveness = 3;
    this.routerInitialWindow = 65536;
    /** @type {Record<string, string>} */
    this.welcomeAttributes = {};
    this.capacity = opts.capacity;
    this.initialWindowSize = opts.initialWindowSize;
    this.sessionRecvSize = INITIAL_SESSION_WINDOW;
    this.recvSessionWindow = INITIAL_SESSION_WINDOW;
    this.sendSessionWindow = INITIAL_SESSION_WINDOW;
    this.sessionUnacked = 0;
    /** highest stream id opened (H, §10.6) */
    this.highestId = 0;
    /** highest stream id accepted for processing (last-good, §9.7) */
    this.lastGood = 0;
    /** @type {Map<number, StreamState>} */
    this.streams = new Map();
    this.nextPingId = 2;
    /** @type {Map<number, number>} own PINGs in flight: id -> send time */
    this.pings = new Map();
    this.lastRtt = NaN;
    /** @type {Buffer[]} */
    this._out = [];
    this._flushScheduled = false;
    this._sending = false;
    /** no frame may be sent any more (after a non-OK GOAWAY, §9.10) */
    this._silenced = false;
    /** the session is ending: nothing more is queued */
    this._closing = false;
    /** @type {(() => void)[]} */
    this._flushWaiters = [];
    this._lastSent = 0;
    this._lastRecv = 0;
    /** @type {NodeJS.Timeout | undefined} */
    this._hbTimer = undefined;
    /** @type {NodeJS.Timeout | undefined} */
    this._handshakeTimer = undefined;
    /** @type {NodeJS.Timeout | undefined} */
    this._drainTimer = undefined;
    /** @type {(r: {ok: boolean, reason?: string, status?: number}) => void} */
    this._resolveHandshake = () => {};
    this._lostEmitted = false;
    /** Resolves when the session can no longer take new streams and the worker should register anew. */
    this.lost = new Promise((resolve) => this.once('lost', resolve));
    /** Resolves when the socket is closed. */
    this.closed = new Promise((resolve) => this.once('closed', resolve));
  }

  /** @param {'debug' | 'info' | 'warn' | 'error'} level @param {string} msg @param {Record<string, unknown>} [fields] */
  _log(level, msg, fields = {}) {
    this.opts.logger.log(level, msg, {
      worker: this.workerId,
      endpoint: this.endpoint,
      ...(this.welcomeAttributes.session ? { session: this.welcomeAttributes.session } : {}),
      ...fields,
    });
  }

  get activeCount() {
    return this.streams.size;
  }

  /**
   * Connects, waits until the socket is writable, sends HELLO and waits for
   * the router's answer (§9.2).
   * @returns {Promise<{ok: boolean, reason?: string, status?: number}>}
   */
  async start() {
    const sock = new zmq.Dealer({
      immediate: true,
      linger: this.opts.linger,
      sendHighWaterMark: 10000,
      receiveHighWaterMark: 10000,
      maxMessageSize: 1 << 20,
      heartbeatInterval: 1000,
      heartbeatTimeout: 3000,
      heartbeatTimeToLive: 3000,
      sendTimeout: -1,
      ...(this.opts.curve && {
        curveServerKey: this.opts.curve.serverKey,
        curvePublicKey: this.opts.curve.publicKey,
        curveSecretKey: this.opts.curve.secretKey,
      }),
    });
    this.socket = sock;
    const result = new Promise((resolve) => {
      this._resolveHandshake = resolve;
    });
    try {
      sock.connect(this.endpoint);
    } catch (err) {
      this._failHandshake(`cannot connect: ${/** @type {Error} */ (err).message}`);
      return result;
    }
    const attrs = this.opts.attributes;
    const hello = encodeFrame({
      type: 'HELLO',
      flags: 0,
      version: PROTOCOL_VERSION,
      maxConcurrentStreams: this.capacity,
      initialWindowSize: this.initialWindowSize,
      attributes: attrs,
    });
    // libzmq gives up a connection whose CURVE handshake the router refused
    // (ZAP status 400) and never reconnects it: with CURVE the wait for a
    // connection is bounded, and the worker retries on a new socket.
    const curveTimer = this.opts.curve
      ? setTimeout(() => {
          if (this.state === 'connecting') {
            this._failHandshake(
              `no connection within ${CURVE_CONNECT_TIMEOUT} ms: the router refused this worker's CURVE key ` +
                `${this.opts.curve?.publicKey} (is it in the allowlist?), or it is unreachable`,
            );
          }
        }, CURVE_CONNECT_TIMEOUT)
      : undefined;
    try {
      // With ZMQ_IMMEDIATE the send blocks until a connection is complete:
      // this is the wait for a writable socket of §9.2 step 2.
      await sock.send(hello);
    } catch (err) {
      if (this.state !== 'closed') this._failHandshake(`HELLO not sent: ${/** @type {Error} */ (err).message}`);
      return result;
    } finally {
      clearTimeout(curveTimer);
    }
    if (this.state !== 'connecting') return result;
    this.state = 'hello-sent';
    this._lastSent = performance.now();
    this._log('debug', 'HELLO sent', { capacity: this.capacity, window: this.initialWindowSize });
    this._handshakeTimer = setTimeout(
      () => this._failHandshake(`no WELCOME within ${this.opts.handshakeTimeout} ms`),
      Math.min(this.opts.handshakeTimeout, MAX_TIMER),
    );
    void this._receiveLoop(sock);
    return result;
  }

  /** Stops a session that is still connecting or waiting for WELCOME, or closes an established one at once. */
  abort() {
    if (this.state === 'connecting' || this.state === 'hello-sent') this._failHandshake('aborted');
    else if (this.state !== 'closed') void this._end('aborted');
  }

  /** @param {zmq.Dealer} sock */
  async _receiveLoop(sock) {
    try {
      for await (const parts of sock) {
        for (const part of parts) {
          if (this.state === 'closed') return;
          if (part.length === 0) continue; // §3.2: ignored, and not a sign of life
          this._lastRecv = performance.now();
          this._onPart(part);
        }
      }
    } catch (err) {
      if (this.state !== 'closed' && !sock.closed) {
        this._log('error', 'receive failed', { error: String(err) });
        this._dead('receive failed');
      }
    }
  }

  /** @param {Buffer} part */
  _onPart(part) {
    if (this.state === 'hello-sent') return this._onHandshakePart(part);
    /** @type {import('./codec.js').Frame} */
    let frame;
    try {
      frame = decodeFrame(part, { maxPairs: this.opts.maxPairs });
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      return this._onDecodeError(err);
    }
    this._onFrame(frame);
  }

  /** @param {Buffer} part */
  _onHandshakePart(part) {
    /** @type {import('./codec.js').Frame} */
    let frame;
    try {
      frame = decodeFrame(part, { maxPairs: this.opts.maxPairs });
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      if (err.frameType === 'WELCOME') {
        this._rejectWelcome(`malformed WELCOME: ${err.message}`);
      } else {
        this._failHandshake(`undecodable frame in answer to HELLO: ${err.message}`);
      }
      return;
    }
    if (frame.type === 'GOAWAY') {
      const level = frame.statusCode === GOAWAY.OK || frame.statusCode === GOAWAY.UNKNOWN_SESSION ? 'warn' : 'error';
      this._log(level, 'registration refused', { status: goawayName(frame.statusCode) });
      this._failHandshake(`GOAWAY ${goawayName(frame.statusCode)} in answer to HELLO`, frame.statusCode);
      return;
    }
    if (frame.type !== 'WELCOME') {
      this._failHandshake(`${describeFrame(frame)} before WELCOME`);
      return;
    }
    if (frame.version !== PROTOCOL_VERSION) return this._rejectWelcome(`WELCOME with protocol version ${frame.version}`);
    if (frame.heartbeatIntervalMs < 1) return this._rejectWelcome('WELCOME with heartbeat interval 0');
    if (frame.heartbeatLiveness < 1) return this._rejectWelcome('WELCOME with heartbeat liveness 0');
    if (frame.initialWindowSize < 1) return this._rejectWelcome('WELCOME with initial window size 0');
    clearTimeout(this._handshakeTimer);
    this.interval = frame.heartbeatIntervalMs;
    this.liveness = frame.heartbeatLiveness;
    this.routerInitialWindow = frame.initialWindowSize;
    this.welcomeAttributes = Object.fromEntries(frame.attributes);
    this.state = 'established';
    if (this.socket) this.socket.sendTimeout = Math.min(this.interval, MAX_TIMER); // §3.4
    this._lastRecv = performance.now();
    this._armHeartbeat();
    this._log('info', 'session established', {
      router: this.welcomeAttributes.router,
      interval: this.interval,
      liveness: this.liveness,
      routerWindow: this.routerInitialWindow,
    });
    const raise = this.opts.sessionWindow - INITIAL_SESSION_WINDOW;
    if (raise > 0) {
      const delta = Math.min(raise, MAX_WINDOW - INITIAL_SESSION_WINDOW);
      this.sessionRecvSize += delta;
      this.recvSessionWindow += delta;
      this._sendFrame({ type: 'WINDOW_UPDATE', flags: 0, streamId: 0, deltaWindowSize: delta });
    }
    this._resolveHandshake({ ok: true });
    this.emit('established');
  }

  /** @param {string} reason */
  _rejectWelcome(reason) {
    // §9.2: SHOULD send GOAWAY(0, PROTOCOL_ERROR) so that the router forgets the session.
    this._enqueue(encodeFrame({ type: 'GOAWAY', flags: 0, lastGoodStreamId: 0, statusCode: GOAWAY.PROTOCOL_ERROR }));
    this._silenced = true;
    this._failHandshake(reason);
  }

  /** @param {string} reason @param {number} [status] */
  _failHandshake(reason, status) {
    if (this.state === 'closed') return;
    clearTimeout(this._handshakeTimer);
    if (reason !== 'aborted') this._log('warn', 'handshake failed', { reason });
    this._resolveHandshake({ ok: false, reason, status });
    void this._end(reason);
  }

  // ---------------------------------------------------------------- sending

  /** @param {import('./codec.js').Frame} frame */
  _sendFrame(frame) {
    this._enqueue(encodeFrame(frame));
  }

  /** @param {Buffer} buf */
  _enqueue(buf) {
    if (this._silenced || this._closing || !this.socket) return;
    this._out.push(buf);
    if (!this._flushScheduled) {
      this._flushScheduled = true;
      queueMicrotask(() => void this._flush());
    }
  }

  async _flush() {
    this._flushScheduled = false;
    if (this._sending) return;
    const sock = this.socket;
    if (!sock) return;
    this._sending = true;
    try {
      while (this._out.length > 0 && !sock.closed) {
        const batch = this._out.splice(0, 256);
        this._lastSent = performance.now();
        await sock.send(batch);
      }
    } catch (err) {
      const e = /** @type {any} */ (err);
      if (!sock.closed && this.state !== 'closed') {
        this._log('error', 'send failed', { error: String(e && e.message), code: e && e.code });
        // §3.4: EAGAIN for one heartbeat interval means the session is dead.
        this._out.length = 0;
        this._dead(`send failed (${e && e.code})`);
      }
    } finally {
      this._sending = false;
      const waiters = this._flushWaiters.splice(0);
      for (const w of waiters) w();
    }
  }

  /** @param {number} timeoutMs */
  _waitFlushed(timeoutMs) {
    if (!this._sending && this._out.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this._flushWaiters.push(() => {
        clearTimeout(t);
        resolve(undefined);
      });
    });
  }

  // -------------------------------------------------------------- heartbeat

  _armHeartbeat() {
    clearTimeout(this._hbTimer);
    if (this.state !== 'established' && this.state !== 'draining') return;
    const now = performance.now();
    const pingDue = this._lastSent + this.interval;
    const deadDue = this._lastRecv + this.interval * this.liveness;
    const wait = Math.max(1, Math.min(MAX_TIMER, Math.ceil(Math.min(pingDue, deadDue) - now)));
    this._hbTimer = setTimeout(() => this._onHeartbeatTimer(), wait);
  }

  _onHeartbeatTimer() {
    if (this.state !== 'established' && this.state !== 'draining') return;
    const now = performance.now();
    if (now - this._lastRecv >= this.interval * this.liveness) {
      this._dead(`nothing received for ${this.interval * this.liveness} ms`);
      return;
    }
    if (now - this._lastSent >= this.interval) this.ping();
    this._armHeartbeat();
  }

  /** Sends a PING with the next even id (§5.5). */
  ping() {
    const id = this.nextPingId;
    this.nextPingId = (this.nextPingId + 2) % 0x100000000;
    this.pings.set(id, performance.now());
    if (this.pings.size > 64) this.pings.delete(this.pings.keys().next().value ?? 0);
    this._lastSent = performance.now();
    this._sendFrame({ type: 'PING', flags: 0, id });
    return id;
  }

  // ---------------------------------------------------------- receive path

  /** @param {FrameError} err */
  _onDecodeError(err) {
    // A HELLO/WELCOME whose block is malformed: a session error (§4.6 step 9).
    const r = reactionFor(err);
    if (err.frameType === 'DATA' && err.dataLength !== undefined && err.code === 'frame-too-large') {
      // §4.6: the payload still counts against the session window, first.
      if (!this._countSessionWindow(err.dataLength)) return;
      this._creditDiscarded(err.dataLength);
    }
    if (r.kind === 'session') {
      this._sessionError(r.status, `undecodable frame: ${err.message}`);
      return;
    }
    const id = r.streamId;
    if (err.frameType === 'SYN_STREAM') {
      // §4.6: the stream-id checks of §10.1 come first; then the id is opened and reset.
      if (!this._checkNewStreamId(id)) return;
      this.highestId = id;
      this._log('warn', 'stream error', { stream: id, status: rstName(r.status), error: err.code });
      this._sendRst(id, r.status);
      return;
    }
    const s = this.streams.get(id);
    if (!s && this._isClosedId(id)) return; // closed stream: ignore, never RST (§10.6)
    if (!s && err.frameType === 'WINDOW_UPDATE') return; // never-opened: ignore (§4.6)
    this._log('warn', 'stream error', { stream: id, status: rstName(r.status), error: err.code });
    if (s) this._resetStream(s, r.status, `${err.code}`, true);
    else this._sendRst(id, r.status);
  }

  /** @param {number} id */
  _isClosedId(id) {
    return id % 2 === 1 && id <= this.highestId && !this.streams.has(id);
  }

  /** @param {number} id */
  _isNeverOpened(id) {
    return id % 2 === 0 || id > this.highestId;
  }

  /** @param {import('./codec.js').Frame} f */
  _onFrame(f) {
    switch (f.type) {
      case 'SYN_STREAM':
        return this._onSynStream(f);
      case 'DATA':
        return this._onData(f);
      case 'HEADERS':
        return this._onHeaders(f);
      case 'RST_STREAM':
        return this._onRst(f);
      case 'WINDOW_UPDATE':
        return this._onWindowUpdate(f);
      case 'SETTINGS':
        return this._onSettings(f);
      case 'PING':
        return this._onPing(f);
      case 'GOAWAY':
        return this._onGoaway(f);
      case 'SYN_REPLY': {
        const s = this.streams.get(f.streamId);
        if (s) return this._resetStream(s, RST.PROTOCOL_ERROR, 'SYN_REPLY received by a worker', true);
        if (this._isNeverOpened(f.streamId)) return this._streamErrorNoState(f.streamId, RST.INVALID_STREAM, 'SYN_REPLY');
        return; // closed: ignore
      }
      case 'HELLO':
        return this._sessionError(GOAWAY.PROTOCOL_ERROR, 'HELLO received by a worker');
      case 'WELCOME':
        return this._sessionError(GOAWAY.PROTOCOL_ERROR, 'second WELCOME');
      case 'UNKNOWN':
        return; // ignored (§5.12); it counted as a sign of life
    }
  }

  /**
   * §10.1: a SYN_STREAM with an even id, or one not above H, is a session error.
   * @param {number} id
   */
  _checkNewStreamId(id) {
    if (id % 2 === 0 || id <= this.highestId) {
      this._sessionError(GOAWAY.PROTOCOL_ERROR, `SYN_STREAM with stream id ${id} (highest ${this.highestId})`);
      return false;
    }
    return true;
  }

  /** @param {import('./codec.js').SynStreamFrame} f */
  _onSynStream(f) {
    const id = f.streamId;
    if (!this._checkNewStreamId(id)) return;
    this.highestId = id;
    // Not processed at all: REFUSED_STREAM, so that the router may retry (§9.7, §11.6).
    if (this.state === 'draining') {
      this._log('info', 'refusing stream while draining', { stream: id, lastGood: this.lastGood, drainedBy: this.drainedBy });
      return this._sendRst(id, RST.REFUSED_STREAM);
    }
    if (this.streams.size + 1 > this.capacity) {
      this._log('info', 'refusing stream at capacity', { stream: id, capacity: this.capacity });
      return this._sendRst(id, RST.REFUSED_STREAM);
    }
    const bad = (/** @type {string} */ why) => {
      this._log('warn', 'stream error', { stream: id, status: 'PROTOCOL_ERROR', error: why });
      this._sendRst(id, RST.PROTOCOL_ERROR);
    };
    if (f.associatedStreamId !== 0) return bad('associated-to-stream-id is not 0');
    if (f.flags & FLAG_UNIDIRECTIONAL) return bad('FLAG_UNIDIRECTIONAL set');
    const byName = new Map(f.headers);
    for (const p of REQUIRED_PSEUDO) {
      const v = byName.get(p);
      if (v === undefined) return bad(`missing ${p}`);
      if (v.includes('\0')) return bad(`${p} has several values`);
    }
    for (const [n, v] of f.headers) if (isForbiddenField(n, v)) return bad(`forbidden header field ${n}`);
    /** @type {bigint | null} */
    let contentLength = null;
    const cl = byName.get('content-length');
    if (cl !== undefined) {
      if (!/^[0-9]+$/.test(cl) || BigInt(cl) > 0xffffffffffffffffn) return bad(`invalid content-length ${JSON.stringify(cl)}`);
      contentLength = BigInt(cl);
    }
    const fin = (f.flags & FLAG_FIN) !== 0;
    if (fin && contentLength !== null && contentLength !== 0n) return bad('content-length without a body');
    this.lastGood = id;
    this._openStream(f, fin, contentLength);
  }

  /**
   * @param {import('./codec.js').SynStreamFrame} f
   * @param {boolean} fin
   * @param {bigint | null} contentLength
   */
  _openStream(f, fin, contentLength) {
    const id = f.streamId;
    const abort = new AbortController();
    /** @type {StreamState} */
    const s = /** @type {any} */ ({
      id,
      recvClosed: fin,
      sendClosed: false,
      closed: false,
      replySent: false,
      recvWindow: this.initialWindowSize,
      sendWindow: this.routerInitialWindow,
      unacked: 0,
      inbox: [],
      inboxBytes: 0,
      wants: false,
      endPushed: false,
      received: 0n,
      contentLength,
      pending: [],
      abort,
    });
    /** @type {import('./http.js').StreamPort} */
    const port = {
      id,
      wantData: () => this._deliver(s),
      sendReply: (pairs, replyFin) => this._sendReply(s, pairs, replyFin),
      sendData: (data, opts, cb) => this._queueData(s, data, opts, cb),
      sendTrailers: (pairs, cb) => this._queueTrailers(s, pairs, cb),
      fail: (err) => this._handlerFailed(s, err),
      isClosed: () => s.closed || s.sendClosed,
    };
    const method = f.headers.find(([n]) => n === ':method')?.[1] ?? 'GET';
    s.req = new Request(port, { pairs: f.headers, priority: f.priority, signal: abort.signal, fin });
    const requestId = s.req.headers['x-request-id'];
    s.res = new Response(port, {
      method,
      signal: abort.signal,
      log: (msg, fields) => this._log('warn', msg, { stream: id, requestId, ...fields }),
    });
    this.streams.set(id, s);
    this._log('debug', 'stream opened', { stream: id, method, path: s.req.url, requestId });
    Promise.resolve()
      .then(() => this.opts.handler(s.req, s.res))
      .catch((err) => this._handlerFailed(s, err));
  }

  /**
   * @param {StreamState} s
   * @param {unknown} err
   */
  _handlerFailed(s, err) {
    if (s.closed) return;
    const message = err instanceof Error ? err.message : String(err);
    if (!s.replySent) {
      // §10.4: a 500 response instead of a reset, before SYN_REPLY.
      this._log('error', 'handler failed before the response head; answering 500', { stream: s.id, error: message });
      this._sendReply(s, [
        [':status', '500'],
        [':version', 'HTTP/1.1'],
      ], true);
      s.pending.length = 0;
      s.res.destroy();
    } else if (!s.sendClosed) {
      this._log('error', 'handler failed after the response head', { stream: s.id, error: message, status: 'INTERNAL_ERROR' });
      this._resetStream(s, RST.INTERNAL_ERROR, 'handler failed', true);
    }
  }

  /**
   * @param {StreamState} s
   * @param {[string, string][]} pairs
   * @param {boolean} fin
   */
  _sendReply(s, pairs, fin) {
    if (s.closed || s.replySent) return;
    s.replySent = true;
    this._sendFrame({ type: 'SYN_REPLY', flags: fin ? FLAG_FIN : 0, streamId: s.id, headers: pairs });
    if (fin) this._onSentFin(s);
  }

  /**
   * @param {StreamState} s
   * @param {Buffer} data
   * @param {{fin: boolean, atomic: boolean}} opts
   * @param {(err?: Error | null) => void} cb
   */
  _queueData(s, data, opts, cb) {
    if (s.closed || s.sendClosed) return cb();
    s.pending.push({ data, off: 0, fin: opts.fin, atomic: opts.atomic, cb });
    this._pump(s);
  }

  /**
   * @param {StreamState} s
   * @param {[string, string][]} pairs
   * @param {(err?: Error | null) => void} cb
   */
  _queueTrailers(s, pairs, cb) {
    if (s.closed || s.sendClosed) return cb();
    s.pending.push({ trailers: pairs, off: 0, fin: true, atomic: false, cb });
    this._pump(s);
  }

  /**
   * Sends what the windows allow of a stream's pending response items (§11.2).
   * @param {StreamState} s
   */
  _pump(s) {
    while (s.pending.length > 0 && !s.closed && !this._silenced) {
      const item = s.pending[0];
      if (item.trailers) {
        s.pending.shift();
        this._sendFrame({ type: 'HEADERS', flags: FLAG_FIN, streamId: s.id, headers: item.trailers });
        this._onSentFin(s);
        item.cb();
        continue;
      }
      const data = /** @type {Buffer} */ (item.data);
      const remaining = data.length - item.off;
      if (remaining === 0) {
        // An empty DATA consumes no window (§11.2); only worth sending with FIN.
        s.pending.shift();
        if (item.fin) {
          this._sendFrame({ type: 'DATA', flags: FLAG_FIN, streamId: s.id, data });
          this._onSentFin(s);
        }
        item.cb();
        continue;
      }
      const avail = Math.min(s.sendWindow, this.sendSessionWindow);
      let n;
      if (item.atomic && remaining <= MAX_PAYLOAD && remaining <= this.routerInitialWindow) {
        if (avail < remaining) return; // wait for room for the whole frame (Appendix A.6)
        n = remaining;
      } else {
        if (avail <= 0) return; // wait for a WINDOW_UPDATE
        n = Math.min(avail, remaining, MAX_PAYLOAD);
      }
      const chunk = data.subarray(item.off, item.off + n);
      item.off += n;
      s.sendWindow -= n;
      this.sendSessionWindow -= n;
      const done = item.off === data.length;
      const fin = done && item.fin;
      this._sendFrame({ type: 'DATA', flags: fin ? FLAG_FIN : 0, streamId: s.id, data: chunk });
      if (done) {
        s.pending.shift();
        if (fin) this._onSentFin(s);
        item.cb();
      }
    }
  }

  _pumpAll() {
    for (const s of [...this.streams.values()]) if (s.pending.length) this._pump(s);
  }

  /** @param {StreamState} s */
  _onSentFin(s) {
    s.sendClosed = true;
    // §10.4: keep accepting request DATA and granting credit until the router's
    // FIN: a request body nobody reads any more is read and discarded.
    if (!s.req.readableEnded && !s.req.destroyed) s.req.resume();
    if (s.recvClosed) this._finishStream(s);
  }

  /** Both directions ended: the stream closes normally. @param {StreamState} s */
  _finishStream(s) {
    if (s.closed) return;
    s.closed = true;
    this.streams.delete(s.id);
    this._log('debug', 'stream closed', { stream: s.id });
    this._maybeDrained();
  }

  /**
   * Closes a stream abnormally (RST_STREAM sent or received, or session lost).
   * @param {StreamState} s
   * @param {number | null} status the RST_STREAM status to send, or null
   * @param {string} reason
   * @param {boolean} send
   */
  _resetStream(s, status, reason, send) {
    if (s.closed) return;
    s.closed = true;
    this.streams.delete(s.id);
    if (send && status !== null) this._sendFrame({ type: 'RST_STREAM', flags: 0, streamId: s.id, statusCode: status });
    // §11.1: buffered data of a reset stream counts as consumed.
    if (s.inboxBytes > 0) {
      this._creditDiscarded(s.inboxBytes);
      s.inbox.length = 0;
      s.inboxBytes = 0;
    }
    const pending = s.pending.splice(0);
    const err = Object.assign(new Error(`stream ${s.id} reset: ${reason}`), { code: 'ERR_STREAM_RESET', status });
    s.abort.abort(err);
    s.req._abort(err);
    if (!s.res.destroyed) s.res.destroy();
    for (const item of pending) item.cb();
    this._maybeDrained();
  }

  /** @param {number} id @param {number} status */
  _sendRst(id, status) {
    this._sendFrame({ type: 'RST_STREAM', flags: 0, streamId: id, statusCode: status });
  }

  /** @param {number} id @param {number} status @param {string} what */
  _streamErrorNoState(id, status, what) {
    this._log('warn', 'stream error', { stream: id, status: rstName(status), error: `${what} on a never-opened stream` });
    this._sendRst(id, status);
  }

  /**
   * Counts a DATA payload against the session receive window (§11.1).
   * @param {number} n
   * @returns {boolean} false if the session failed
   */
  _countSessionWindow(n) {
    this.recvSessionWindow -= n;
    if (this.recvSessionWindow < 0) {
      this._sessionError(GOAWAY.FLOW_CONTROL_ERROR, `DATA of ${n} bytes beyond the session receive window`);
      return false;
    }
    return true;
  }

  /** Data discarded without delivery: credited back to the session window at once. @param {number} n */
  _creditDiscarded(n) {
    this.sessionUnacked += n;
    this._maybeSessionUpdate();
  }

  _maybeSessionUpdate() {
    if (this.sessionUnacked > 0 && this.sessionUnacked >= this.sessionRecvSize / 2) {
      const delta = this.sessionUnacked;
      this.sessionUnacked = 0;
      this.recvSessionWindow += delta;
      this._sendFrame({ type: 'WINDOW_UPDATE', flags: 0, streamId: 0, deltaWindowSize: delta });
    }
  }

  /** @param {import('./codec.js').DataFrame} f */
  _onData(f) {
    const n = f.data.length;
    if (!this._countSessionWindow(n)) return;
    const s = this.streams.get(f.streamId);
    if (!s) {
      this._creditDiscarded(n);
      if (this._isNeverOpened(f.streamId)) this._streamErrorNoState(f.streamId, RST.INVALID_STREAM, 'DATA');
      return; // closed stream: ignore (§10.6)
    }
    if (s.recvClosed) {
      this._creditDiscarded(n);
      this._log('warn', 'stream error', { stream: s.id, status: 'STREAM_ALREADY_CLOSED', error: 'DATA after FIN' });
      return this._resetStream(s, RST.STREAM_ALREADY_CLOSED, 'DATA after FIN', true);
    }
    if (n > s.recvWindow) {
      this._creditDiscarded(n);
      this._log('warn', 'stream error', { stream: s.id, status: 'FLOW_CONTROL_ERROR', error: 'DATA beyond the stream window' });
      return this._resetStream(s, RST.FLOW_CONTROL_ERROR, 'DATA beyond the stream window', true);
    }
    s.recvWindow -= n;
    s.received += BigInt(n);
    const fin = (f.flags & FLAG_FIN) !== 0;
    if (s.contentLength !== null && (s.received > s.contentLength || (fin && s.received !== s.contentLength))) {
      this._creditDiscarded(n);
      this._log('warn', 'stream error', { stream: s.id, status: 'PROTOCOL_ERROR', error: 'body length differs from content-length' });
      return this._resetStream(s, RST.PROTOCOL_ERROR, 'content-length mismatch', true);
    }
    if (n > 0) {
      if (s.sendClosed || s.req.destroyed) {
        // Nobody reads any more: consumed at once.
        this._creditConsumed(s, n);
      } else {
        s.inbox.push(f.data);
        s.inboxBytes += n;
      }
    }
    if (fin) s.recvClosed = true;
    if (s.wants) this._deliver(s);
    if (fin && s.sendClosed) this._finishStream(s);
  }

  /**
   * Credits consumed request bytes to the stream and session windows (§11.3).
   * @param {StreamState} s
   * @param {number} n
   */
  _creditConsumed(s, n) {
    this.sessionUnacked += n;
    if (!s.recvClosed && !s.closed) {
      s.unacked += n;
      if (s.unacked >= this.initialWindowSize / 2) {
        const delta = s.unacked;
        s.unacked = 0;
        s.recvWindow += delta;
        this._sendFrame({ type: 'WINDOW_UPDATE', flags: 0, streamId: s.id, deltaWindowSize: delta });
      }
    }
    this._maybeSessionUpdate();
  }

  /** The request asked for a chunk: hand over one, crediting it. @param {StreamState} s */
  _deliver(s) {
    if (s.endPushed) return;
    if (s.inbox.length > 0) {
      s.wants = false;
      const chunk = /** @type {Buffer} */ (s.inbox.shift());
      s.inboxBytes -= chunk.length;
      this._creditConsumed(s, chunk.length);
      s.req.push(chunk);
      return;
    }
    if (s.recvClosed) {
      s.wants = false;
      s.endPushed = true;
      if (!s.req.destroyed) s.req.push(null);
      return;
    }
    s.wants = true;
  }

  /** @param {import('./codec.js').HeadersFrame} f */
  _onHeaders(f) {
    const s = this.streams.get(f.streamId);
    if (!s) {
      if (this._isNeverOpened(f.streamId)) this._streamErrorNoState(f.streamId, RST.INVALID_STREAM, 'HEADERS');
      return;
    }
    const fail = (/** @type {number} */ status, /** @type {string} */ why) => {
      this._log('warn', 'stream error', { stream: s.id, status: rstName(status), error: why });
      this._resetStream(s, status, why, true);
    };
    if (s.recvClosed) return fail(RST.STREAM_ALREADY_CLOSED, 'HEADERS after FIN');
    if (!(f.flags & FLAG_FIN)) return fail(RST.PROTOCOL_ERROR, 'HEADERS without FIN');
    for (const [n, v] of f.headers) {
      if (n.startsWith(':')) return fail(RST.PROTOCOL_ERROR, `pseudo-header ${n} in trailers`);
      if (isForbiddenField(n, v)) return fail(RST.PROTOCOL_ERROR, `forbidden field ${n} in trailers`);
    }
    if (s.contentLength !== null && s.received !== s.contentLength) {
      return fail(RST.PROTOCOL_ERROR, 'body shorter than content-length');
    }
    s.req._setTrailers(f.headers.filter(([n]) => n !== 'host'));
    s.recvClosed = true;
    if (s.wants) this._deliver(s);
    if (s.sendClosed) this._finishStream(s);
  }

  /** @param {import('./codec.js').RstStreamFrame} f */
  _onRst(f) {
    const s = this.streams.get(f.streamId);
    if (!s) return; // closed or never-opened: ignore (§5.3)
    const code = effectiveRstCode(f.statusCode);
    this._log('info', 'stream reset by the router', { stream: s.id, status: rstName(f.statusCode) });
    this._resetStream(s, code, `RST_STREAM ${rstName(f.statusCode)}`, false);
  }

  /** @param {import('./codec.js').WindowUpdateFrame} f */
  _onWindowUpdate(f) {
    if (f.streamId === 0) {
      if (this.sendSessionWindow + f.deltaWindowSize > MAX_WINDOW) {
        return this._sessionError(GOAWAY.FLOW_CONTROL_ERROR, 'WINDOW_UPDATE raises the session window above 2^31-1');
      }
      this.sendSessionWindow += f.deltaWindowSize;
      return this._pumpAll();
    }
    const s = this.streams.get(f.streamId);
    if (!s || s.sendClosed) return; // closed, never-opened, or FIN already sent: ignore (§11.3)
    if (s.sendWindow + f.deltaWindowSize > MAX_WINDOW) {
      this._log('warn', 'stream error', { stream: s.id, status: 'FLOW_CONTROL_ERROR', error: 'window above 2^31-1' });
      return this._resetStream(s, RST.FLOW_CONTROL_ERROR, 'WINDOW_UPDATE above 2^31-1', true);
    }
    s.sendWindow += f.deltaWindowSize;
    this._pump(s);
  }

  /** @param {import('./codec.js').SettingsFrame} f */
  _onSettings(f) {
    for (const e of f.entries) {
      if (e.id !== SETTING.INITIAL_WINDOW_SIZE) continue; // MAX_CONCURRENT_STREAMS from the router and unknown ids are ignored
      if (e.value > MAX_WINDOW) {
        return this._sessionError(GOAWAY.FLOW_CONTROL_ERROR, `INITIAL_WINDOW_SIZE ${e.value} above 2^31-1`);
      }
      const delta = e.value - this.routerInitialWindow;
      for (const s of this.streams.values()) {
        if (s.sendWindow + delta > MAX_WINDOW) {
          return this._sessionError(GOAWAY.FLOW_CONTROL_ERROR, 'INITIAL_WINDOW_SIZE raises a stream window above 2^31-1');
        }
      }
      for (const s of this.streams.values()) s.sendWindow += delta;
      this.routerInitialWindow = e.value;
    }
    this._pumpAll();
  }

  /** @param {import('./codec.js').PingFrame} f */
  _onPing(f) {
    if (f.id % 2 === 1) {
      this._sendFrame({ type: 'PING', flags: 0, id: f.id }); // the router's PING: echo it (§5.5)
      return;
    }
    const sent = this.pings.get(f.id);
    if (sent === undefined) return; // an own-parity id never sent: ignore
    this.pings.delete(f.id);
    this.lastRtt = performance.now() - sent;
    this.emit('rtt', this.lastRtt, f.id);
  }

  /** @param {import('./codec.js').GoawayFrame} f */
  _onGoaway(f) {
    const status = effectiveGoawayCode(f.statusCode);
    if (status === GOAWAY.OK) {
      this._log('info', 'router drains the session', { streams: this.streams.size });
      if (this.state === 'established') {
        this.state = 'draining';
        this.drainedBy = 'router';
      }
      // §9.8: complete the active streams, close, and re-register (at once is allowed).
      this._emitLost('router drain');
      this._maybeDrained();
      return;
    }
    this._silenced = true; // §9.10: no frame after a non-OK GOAWAY
    if (status === GOAWAY.UNKNOWN_SESSION) {
      this._log('warn', 'router does not know the session; registering again', { streams: this.streams.size });
    } else {
      this._log('error', 'session ended by the router', { status: goawayName(f.statusCode) });
    }
    void this._end(`GOAWAY ${goawayName(f.statusCode)}`);
  }

  // ------------------------------------------------------- session endings

  /**
   * A session error (§9.10): GOAWAY(last-good, status), then end.
   * @param {number} status
   * @param {string} reason
   */
  _sessionError(status, reason) {
    if (this.state === 'closed') return;
    this._log('error', 'session error', { status: goawayName(status), error: reason, lastGood: this.lastGood });
    this._sendFrame({ type: 'GOAWAY', flags: 0, lastGoodStreamId: this.lastGood, statusCode: status });
    this._silenced = true;
    void this._end(reason);
  }

  /** @param {string} reason */
  _dead(reason) {
    if (this.state === 'closed') return;
    this._log('error', 'session dead', { reason });
    this._silenced = true;
    void this._end(reason);
  }

  /** @param {string} reason */
  _emitLost(reason) {
    if (this._lostEmitted) return;
    this._lostEmitted = true;
    this.emit('lost', reason);
  }

  _maybeDrained() {
    if (this.state === 'draining' && this.streams.size === 0) void this._end('drained');
  }

  /**
   * Worker-initiated drain (§9.7): GOAWAY(last-good, OK), refuse new streams,
   * finish the active ones, then close. After `timeoutMs`, end the session with
   * GOAWAY(last-good, INTERNAL_ERROR).
   * @param {number} timeoutMs
   */
  drain(timeoutMs) {
    if (this.state === 'connecting' || this.state === 'hello-sent') {
      this.abort();
      return this.closed;
    }
    if (this.state === 'established') {
      this.state = 'draining';
      this.drainedBy = 'worker';
      this._log('info', 'draining', { lastGood: this.lastGood, streams: this.streams.size });
      this._sendFrame({ type: 'GOAWAY', flags: 0, lastGoodStreamId: this.lastGood, statusCode: GOAWAY.OK });
    }
    if (this.state === 'draining' && !this._drainTimer) {
      this._drainTimer = setTimeout(() => {
        if (this.state !== 'draining') return;
        this._log('warn', 'graceful timeout: ending the session', { streams: this.streams.size });
        this._sendFrame({ type: 'GOAWAY', flags: 0, lastGoodStreamId: this.lastGood, statusCode: GOAWAY.INTERNAL_ERROR });
        this._silenced = true;
        void this._end('graceful timeout');
      }, Math.min(timeoutMs, MAX_TIMER));
      this._drainTimer.unref?.();
    }
    this._maybeDrained();
    return this.closed;
  }

  /**
   * Announces a new capacity with SETTINGS MAX_CONCURRENT_STREAMS (§11.6).
   * @param {number} n
   */
  setCapacity(n) {
    this.capacity = n;
    if (this.state === 'established' || this.state === 'draining') {
      this._sendFrame({ type: 'SETTINGS', flags: 0, entries: [{ flags: 0, id: SETTING.MAX_CONCURRENT_STREAMS, value: n }] });
    }
  }

  /**
   * Ends the session: cancels every stream (without RST_STREAM), lets queued
   * frames go out, closes the socket.
   * @param {string} reason
   */
  async _end(reason) {
    if (this.state === 'closed') return;
    const wasHandshaking = this.state === 'connecting' || this.state === 'hello-sent';
    this.state = 'closed';
    this._closing = true;
    clearTimeout(this._hbTimer);
    clearTimeout(this._handshakeTimer);
    clearTimeout(this._drainTimer);
    for (const s of [...this.streams.values()]) this._resetStream(s, null, `session ended: ${reason}`, false);
    const sock = this.socket;
    if (sock && !sock.closed) {
      if (!wasHandshaking || this._out.length > 0) {
        // Queued frames (a final GOAWAY, the last DATA) go out first.
        await this._waitFlushed(this.opts.closeFlushTimeout ?? 1000);
      }
      try {
        sock.close();
      } catch {
        /* already closed */
      }
    }
    this._log(wasHandshaking ? 'debug' : 'info', 'session closed', { reason });
    this._emitLost(reason);
    this.emit('closed', reason);
  }
}
