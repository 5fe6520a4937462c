// @ts-check
/**
 * One worker session on one DEALER socket (PROTOCOL.md §9): handshake,
 * heartbeats, streams (§10), flow control in both directions (§11), capacity
 * (§11.6), drain (§9.7) and the reactions to the router's GOAWAY (§9.3, §9.8,
 * §9.10).
 *
 * The session is built in layers, one concern per file under session/ (see
 * session/base.js); this file holds the handshake (§9.2) and the public API.
 */
import { performance } from 'node:perf_hooks';
import * as zmq from 'zeromq';
import {
  decodeFrame,
  encodeFrame,
  describeFrame,
  goawayName,
  FrameError,
  GOAWAY,
  SETTING,
  MAX_WINDOW,
  PROTOCOL_VERSION,
} from './codec.js';
import { SessionReceive } from './session/receive.js';
import { INITIAL_SESSION_WINDOW, MAX_TIMER } from './session/base.js';

/**
 * @typedef {import('./session/base.js').Handler} Handler
 * @typedef {import('./session/base.js').Logger} Logger
 * @typedef {import('./session/base.js').SessionOptions} SessionOptions
 */

/** How long a CURVE socket may wait for a connection before it is replaced (ms). */
const CURVE_CONNECT_TIMEOUT = 3000;

export class Session extends SessionReceive {
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
      this.goingAway.abort();
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
}
