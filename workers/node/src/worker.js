// @ts-check
/**
 * A zroute worker: one registration loop per router endpoint, with the
 * re-registration and backoff rules of PROTOCOL.md §9.4, capacity changes
 * (§11.6) and graceful shutdown (§9.7). A named endpoint (§3.5) has a
 * Discovery loop (discovery.js) that keeps one registration loop per router
 * endpoint its name resolves to.
 */
import { EventEmitter } from 'node:events';
import { Session } from './session.js';
import { checkName, isValidValue, GOAWAY } from './codec.js';
import { Backoff } from './backoff.js';
import { curveFromEnv } from './curve.js';
import { Discovery, parseEndpoint, parseNameserver, DEFAULT_RESOLVE_INTERVAL } from './discovery.js';

export const DEFAULT_ENDPOINT = 'tcp://127.0.0.1:8000';

/**
 * Is `id` a valid worker id (§5.10: 1 to 128 bytes, each 0x21 to 0x7E)?
 * @param {string} id
 */
export function isValidWorkerId(id) {
  return typeof id === 'string' && /^[\x21-\x7e]{1,128}$/.test(id);
}

const LABEL = '[a-z0-9-]{1,63}';
const ROUTE_RE = new RegExp(`^(?:(\\*\\.)?(${LABEL}(?:\\.${LABEL})*))?(/[\\x21\\x22\\x24-\\x3e\\x40-\\x7e]*)?$`);

/**
 * Does `route` match the route grammar of §12.1?
 * @param {string} route
 */
export function isValidRoute(route) {
  if (typeof route !== 'string' || route === '') return false;
  const m = ROUTE_RE.exec(route);
  if (!m) return false;
  if (m[2] !== undefined && m[2].length > 253) return false;
  return m[2] !== undefined || m[3] !== undefined;
}

/**
 * A logger writing one JSON object per line to stderr.
 * @param {{level?: 'debug' | 'info' | 'warn' | 'error', stream?: NodeJS.WritableStream}} [opts]
 * @returns {import('./session.js').Logger}
 */
export function jsonLogger(opts = {}) {
  /** @type {Record<string, number>} */
  const order = { debug: 0, info: 1, warn: 2, error: 3 };
  const min = order[opts.level ?? /** @type {any} */ (process.env.ZROUTE_LOG_LEVEL) ?? 'info'] ?? 1;
  const out = opts.stream ?? process.stderr;
  return {
    log(level, msg, fields = {}) {
      if (order[level] < min) return;
      out.write(`${JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields })}\n`);
    },
  };
}

/**
 * The resolve interval from ZROUTE_RESOLVE_INTERVAL_MS, else the default.
 * @returns {number}
 */
function resolveIntervalFromEnv() {
  const v = process.env.ZROUTE_RESOLVE_INTERVAL_MS;
  if (v === undefined || v === '') return DEFAULT_RESOLVE_INTERVAL;
  if (!/^[0-9]+$/.test(v) || Number(v) < 1) throw new RangeError(`invalid ZROUTE_RESOLVE_INTERVAL_MS ${JSON.stringify(v)}: a whole number of milliseconds, 1 or more`);
  return Number(v);
}

/** A logger that drops everything. */
export const silentLogger = { log() {} };

/**
 * @typedef {object} WorkerOptions
 * @property {string} id                       the worker id (HELLO `id`)
 * @property {import('./session.js').Handler} handler
 * @property {string[]} [connect]              router endpoints (default: ZROUTE_CONNECT, else tcp://127.0.0.1:8000):
 *                                             static (`tcp://IP:port`, `ipc://path`) or named (`tcp://name:port`,
 *                                             `dns+srv://_service._tcp.name`, §3.5)
 * @property {number} [resolveInterval]        resolve interval R of named endpoints, ms (default:
 *                                             ZROUTE_RESOLVE_INTERVAL_MS, else 5,000)
 * @property {string} [nameserver]             `IP:PORT` of the nameserver for named endpoints (default:
 *                                             ZROUTE_NAMESERVER, else the system's resolver)
 * @property {string[]} [routes]               routes to announce (§12.1); none: the default pool
 * @property {string[]} [features]             features to announce (e.g. `trailers`)
 * @property {Record<string, string>} [labels] informational HELLO attributes
 * @property {number} [capacity]               Max-Concurrent-Streams (default 16)
 * @property {number} [initialWindowSize]      per-stream receive window (default 65,536)
 * @property {number} [sessionWindow]          session receive window to keep (default 1 MiB)
 * @property {number} [handshakeTimeout]       ms (default 3,000)
 * @property {number} [gracefulTimeout]        ms to wait for active streams on shutdown (default 30,000)
 * @property {number} [maxPairs]               pair limit for received blocks (default 128)
 * @property {number} [linger]                 ZMQ_LINGER in ms (default 1,000)
 * @property {number} [backoffInitial]         first backoff delay in ms, and the longest wait before asking a router that is shutting down again (default 1,000)
 * @property {number} [backoffMax]             backoff ceiling in ms (default 32,000)
 * @property {boolean} [jitter]                add up to 25% jitter to each delay (default true)
 * @property {import('./curve.js').CurveOptions} [curve] CURVE keys (§14.1); default: from
 *                                             ZROUTE_CURVE_SERVER_KEY and ZROUTE_CURVE_KEY, else none
 * @property {import('./session.js').Logger} [logger]
 */

/**
 * One router endpoint's registration loop (§9.4): its current and draining
 * sessions, and a stop that ends it without touching other endpoints.
 */
class EndpointLoop {
  /** @param {string} endpoint */
  constructor(endpoint) {
    this.endpoint = endpoint;
    this.stopped = false;
    /** @type {Set<Session>} this loop's sessions not yet closed */
    this.sessions = new Set();
    /** @type {Set<() => void>} wakes this loop's backoff sleep */
    this.wakeups = new Set();
    /** @type {Promise<void>} */
    this.done = Promise.resolve();
    /** @type {(() => void) | null} ends the loop's wait for its established session to be lost */
    this._interrupt = null;
  }

  /**
   * Stops registering on this endpoint, for good: a session still waiting to
   * register is closed at once; an established one drains (§9.7: GOAWAY
   * (last-good, OK), its active streams finish, then its socket closes; after
   * `timeout` ms, GOAWAY(last-good, INTERNAL_ERROR)).
   * @param {number} timeout
   */
  async stop(timeout) {
    this.stopped = true;
    this._interrupt?.();
    for (const wake of [...this.wakeups]) wake();
    await Promise.all([...this.sessions].map((s) => s.drain(timeout)));
  }
}

/**
 * Events: 'session' (a new Session object), 'established' (session),
 * 'closed' (session, reason), 'lookup' (named endpoint, result: {ok: true,
 * endpoints, ttl} or {ok: false, error}) after each lookup of a named
 * endpoint (§3.5).
 */
export class Worker extends EventEmitter {
  /** @param {WorkerOptions} opts */
  constructor(opts) {
    super();
    if (!isValidWorkerId(opts.id)) throw new TypeError(`invalid worker id ${JSON.stringify(opts.id)} (§5.10)`);
    const routes = opts.routes ?? [];
    for (const r of routes) if (!isValidRoute(r)) throw new TypeError(`invalid route ${JSON.stringify(r)} (§12.1)`);
    const features = opts.features ?? [];
    for (const f of features) {
      if (!f || /[\0\r\n]/.test(f)) throw new TypeError(`invalid feature ${JSON.stringify(f)}`);
    }
    const capacity = opts.capacity ?? 16;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 0xffffffff) throw new RangeError('capacity must be 1 to 2^32-1');
    const window = opts.initialWindowSize ?? 65536;
    if (!Number.isInteger(window) || window < 1 || window > 0x7fffffff) throw new RangeError('initialWindowSize must be 1 to 2^31-1');
    this.id = opts.id;
    this.handler = opts.handler;
    const env = process.env.ZROUTE_CONNECT;
    this.endpoints = opts.connect?.length ? opts.connect : env ? env.split(/[\s,]+/).filter(Boolean) : [DEFAULT_ENDPOINT];
    // §3.5: refused at configuration time, with an error naming the endpoint.
    this._specs = this.endpoints.map((e) => parseEndpoint(e));
    this.resolveInterval = opts.resolveInterval ?? resolveIntervalFromEnv();
    if (!Number.isInteger(this.resolveInterval) || this.resolveInterval < 1 || this.resolveInterval > 0x7fffffff) {
      throw new RangeError(`resolveInterval must be a whole number of milliseconds, 1 or more (got ${this.resolveInterval})`);
    }
    const ns = opts.nameserver ?? (process.env.ZROUTE_NAMESERVER || undefined);
    /** @type {string | undefined} */
    this.nameserver = ns === undefined ? undefined : parseNameserver(ns);
    this.capacity = capacity;
    this.initialWindowSize = window;
    this.sessionWindow = opts.sessionWindow ?? 1 << 20;
    this.handshakeTimeout = opts.handshakeTimeout ?? 3000;
    this.gracefulTimeout = opts.gracefulTimeout ?? 30000;
    this.maxPairs = opts.maxPairs ?? 128;
    this.linger = opts.linger ?? 1000;
    this.backoffInitial = opts.backoffInitial ?? 1000;
    this.backoffMax = opts.backoffMax ?? 32000;
    this.jitter = opts.jitter ?? true;
    this.logger = opts.logger ?? jsonLogger();
    this.curve = opts.curve ?? curveFromEnv();
    /** @type {[string, string][]} */
    this.attributes = [['id', opts.id]];
    if (routes.length) this.attributes.push(['route', routes.join('\0')]);
    if (features.length) this.attributes.push(['feature', features.join('\0')]);
    for (const [k, v] of Object.entries(opts.labels ?? {})) {
      if (['id', 'route', 'feature'].includes(k) || k.startsWith(':')) throw new TypeError(`label ${k} is reserved`);
      if (checkName(k) || !isValidValue(String(v))) throw new TypeError(`invalid label ${JSON.stringify(k)}`);
      this.attributes.push([k, String(v)]);
    }
    /** @type {Set<Session>} every session not yet closed */
    this.sessions = new Set();
    this.stopping = false;
    /** @type {Set<() => void>} */
    this._wakeups = new Set();
    /** @type {Promise<void>[]} */
    this._loops = [];
    /** @type {Discovery[]} one per named endpoint */
    this.discoveries = [];
  }

  /** Starts one registration loop per static endpoint, and one discovery loop per named endpoint (§3.5). */
  start() {
    if (this._loops.length) return this;
    for (const spec of this._specs) {
      if (spec.kind === 'static') {
        this._loops.push(this._startLoop(spec.endpoint).done);
      } else {
        const d = new Discovery(this, spec);
        this.discoveries.push(d);
        this._loops.push(d.run());
      }
    }
    return this;
  }

  /**
   * Starts the registration loop of one router endpoint.
   * @param {string} endpoint
   * @returns {EndpointLoop}
   */
  _startLoop(endpoint) {
    const loop = new EndpointLoop(endpoint);
    loop.done = this._runEndpoint(loop);
    return loop;
  }

  /**
   * The registration loop of §9.4 for one endpoint.
   * @param {EndpointLoop} loop
   */
  async _runEndpoint(loop) {
    const endpoint = loop.endpoint;
    const backoff = new Backoff({ initial: this.backoffInitial, max: this.backoffMax });
    /** @type {number | undefined} the heartbeat interval of this endpoint's last WELCOME (rule 4) */
    let lastInterval;
    while (!this.stopping && !loop.stopped) {
      const delay = backoff.delay();
      if (delay > 0) {
        const jitter = this.jitter ? Math.random() * delay * 0.25 : 0;
        this.logger.log('info', 'registering again after backoff', { worker: this.id, endpoint, delayMs: Math.round(delay + jitter) });
        await this._sleep(delay + jitter, loop.wakeups);
        if (this.stopping || loop.stopped) break;
      }
      const session = new Session({
        endpoint,
        attributes: this.attributes,
        capacity: this.capacity,
        initialWindowSize: this.initialWindowSize,
        sessionWindow: this.sessionWindow,
        handler: this.handler,
        logger: this.logger,
        handshakeTimeout: this.handshakeTimeout,
        maxPairs: this.maxPairs,
        linger: this.linger,
        curve: this.curve,
      });
      this.sessions.add(session);
      loop.sessions.add(session);
      session.once('closed', (reason) => {
        this.sessions.delete(session);
        loop.sessions.delete(session);
        this.emit('closed', session, reason);
      });
      this.emit('session', session);
      const r = await session.start();
      if (!r.ok) {
        if (this.stopping || loop.stopped) break;
        // §9.8: a router shutting down answers HELLO with GOAWAY(0, OK).
        if (r.status === GOAWAY.OK) backoff.routerShuttingDown(lastInterval);
        else backoff.failed();
        continue;
      }
      backoff.succeeded();
      lastInterval = session.interval;
      this.emit('established', session);
      // A capacity change made while the handshake was in flight.
      if (session.capacity !== this.capacity) session.setCapacity(this.capacity);
      // A stopped loop (its endpoint left the name's answer, §3.5) has drained
      // the session already, and registers no more.
      await new Promise((resolve) => {
        loop._interrupt = () => resolve(undefined);
        void session.lost.then(resolve);
      });
      loop._interrupt = null;
    }
  }

  /**
   * Sleeps `ms`, or until the worker shuts down (or `wakeups` is called).
   * @param {number} ms
   * @param {Set<() => void>} [wakeups]
   * @returns {Promise<void>}
   */
  _sleep(ms, wakeups) {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(t);
        this._wakeups.delete(wake);
        wakeups?.delete(wake);
        resolve(undefined);
      };
      const t = setTimeout(wake, Math.min(ms, 0x7fffffff));
      this._wakeups.add(wake);
      wakeups?.add(wake);
    });
  }

  /**
   * Announces a new capacity to every session (SETTINGS MAX_CONCURRENT_STREAMS,
   * §11.6). 0 means "no new streams for now".
   * @param {number} n
   */
  setCapacity(n) {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError('capacity must be 0 to 2^32-1');
    this.capacity = n;
    for (const s of this.sessions) if (s.state === 'established' || s.state === 'draining') s.setCapacity(n);
  }

  /**
   * Graceful shutdown: stop registering and looking names up (§3.5), drain every session (§9.7), wait for
   * their active streams up to `timeout` ms, then end what remains with
   * GOAWAY(last-good, INTERNAL_ERROR).
   * @param {{timeout?: number}} [opts]
   */
  async shutdown(opts = {}) {
    const timeout = opts.timeout ?? this.gracefulTimeout;
    this.stopping = true;
    for (const wake of [...this._wakeups]) wake();
    const closing = [...this.sessions].map((s) => s.drain(timeout));
    await Promise.all(closing);
    await Promise.all(this._loops);
    // Sessions that appeared while we waited (a registration in flight).
    await Promise.all([...this.sessions].map((s) => s.drain(timeout)));
  }

  /**
   * Shuts down gracefully on SIGTERM and SIGINT, then exits.
   * @param {{exit?: boolean}} [opts]
   */
  handleSignals(opts = {}) {
    const onSignal = (/** @type {string} */ sig) => {
      if (this.stopping) return;
      this.logger.log('info', 'shutting down', { worker: this.id, signal: sig });
      void this.shutdown().then(() => {
        this.logger.log('info', 'stopped', { worker: this.id });
        if (opts.exit !== false) process.exit(0);
      });
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
    return this;
  }
}
