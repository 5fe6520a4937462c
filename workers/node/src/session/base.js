// @ts-check
/**
 * A worker session's state and the types its layers share. The session is
 * one class built in layers, one concern per file, each class extending the
 * one before it: base (state), send (the outgoing queue), flow
 * (request-direction flow control), streams, goaway (how a session ends),
 * heartbeat, receive (the frames of an established session), and
 * ../session.js (the handshake and the public API).
 */
import { EventEmitter } from 'node:events';
import * as zmq from 'zeromq';

/**
 * @typedef {import('../http.js').Request} Request
 * @typedef {import('../http.js').Response} Response
 */

/** The session windows start at 65,536 in both directions (§11.1). */
export const INITIAL_SESSION_WINDOW = 65536;
/** setTimeout cannot wait longer than this. */
export const MAX_TIMER = 0x7fffffff;

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
 * @property {import('../curve.js').CurveOptions} [curve] CURVE keys (§14.1)
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


export class SessionBase extends EventEmitter {
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
    /** Aborted when the worker drains: its WebSockets close with 1001 (§8.8.3). */
    this.goingAway = new AbortController();
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

  /** @param {number} id */
  _isClosedId(id) {
    return id % 2 === 1 && id <= this.highestId && !this.streams.has(id);
  }

  /** @param {number} id */
  _isNeverOpened(id) {
    return id % 2 === 0 || id > this.highestId;
  }

  // The three hooks below end or finish a session. SessionGoaway (goaway.js)
  // implements them; they are declared here because send.js, flow.js and
  // streams.js, which sit below it in the chain, call them.

  /** A dead session (§9.6). @param {string} _reason @returns {void} */
  _dead(_reason) {
    throw new Error('implemented by SessionGoaway');
  }

  /** A session error (§9.10). @param {number} _status @param {string} _reason @returns {void} */
  _sessionError(_status, _reason) {
    throw new Error('implemented by SessionGoaway');
  }

  /** Ends a draining session once no stream remains. @returns {void} */
  _maybeDrained() {
    throw new Error('implemented by SessionGoaway');
  }
}
