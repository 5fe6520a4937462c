// A tiny router for tests, written from PROTOCOL.md: a ZeroMQ ROUTER socket
// that records every frame it receives, per peer, and lets a test send frames
// and wait for frames with deadlines.
import * as zmq from 'zeromq';
import {
  decodeFrame,
  encodeFrame,
  describeFrame,
  FrameError,
  FLAG_FIN,
  PROTOCOL_VERSION,
} from '../../src/codec.js';

/**
 * Waits for `promise`, failing after `ms` milliseconds.
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {string} what
 * @returns {Promise<T>}
 */
export function deadline(promise, ms, what) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

/**
 * @typedef {object} Received
 * @property {string} peer      routing id, hex
 * @property {Buffer} peerId
 * @property {import('../../src/codec.js').Frame | null} frame
 * @property {FrameError | null} error
 * @property {number} parts     number of parts of the message it came in
 * @property {number} at        performance.now() at receipt
 * @property {boolean} taken
 */

export class MiniRouter {
  /** @param {{autoPong?: boolean}} [opts] */
  constructor(opts = {}) {
    this.sock = new zmq.Router({ mandatory: true, linger: 0, sendTimeout: 1000 });
    this.autoPong = opts.autoPong ?? true;
    /** @type {Received[]} */
    this.frames = [];
    /** @type {Set<() => void>} */
    this._waiters = new Set();
    this.endpoint = '';
    this.closed = false;
  }

  /** @param {{autoPong?: boolean, endpoint?: string}} [opts] */
  static async start(opts = {}) {
    const r = new MiniRouter(opts);
    await r.sock.bind(opts.endpoint ?? 'tcp://127.0.0.1:*');
    r.endpoint = r.sock.lastEndpoint ?? '';
    void r._loop();
    return r;
  }

  async _loop() {
    try {
      for await (const [peerId, ...parts] of this.sock) {
        for (const part of parts) {
          if (part.length === 0) continue;
          /** @type {Received} */
          const rec = {
            peer: peerId.toString('hex'),
            peerId: Buffer.from(peerId),
            frame: null,
            error: null,
            parts: parts.length,
            at: performance.now(),
            taken: false,
          };
          try {
            rec.frame = decodeFrame(part);
          } catch (e) {
            if (!(e instanceof FrameError)) throw e;
            rec.error = e;
          }
          if (process.env.MINIROUTER_DEBUG) {
            process.stderr.write(`router <- ${rec.peer.slice(-6)} ${rec.frame ? describeFrame(rec.frame) : rec.error}\n`);
          }
          if (this.autoPong && rec.frame?.type === 'PING' && rec.frame.id % 2 === 0) {
            this.send(rec.peerId, rec.frame);
          }
          this.frames.push(rec);
        }
        for (const w of [...this._waiters]) w();
      }
    } catch (e) {
      if (!this.closed) throw e;
    }
  }

  /**
   * Sends frames (or raw parts) to a peer, as one message.
   * @param {Buffer} peerId
   * @param {...(import('../../src/codec.js').Frame | Buffer)} frames
   */
  send(peerId, ...frames) {
    const parts = frames.map((f) => (Buffer.isBuffer(f) ? f : encodeFrame(f)));
    if (process.env.MINIROUTER_DEBUG) {
      for (const f of frames) process.stderr.write(`router -> ${peerId.toString('hex').slice(-6)} ${Buffer.isBuffer(f) ? 'raw' : describeFrame(f)}\n`);
    }
    // A peer that is gone fails the send (EHOSTUNREACH, ZMQ_ROUTER_MANDATORY);
    // a real router would forget the session: here the send is just dropped.
    return this.sock.send([peerId, ...parts]).then(
      () => true,
      (err) => {
        if (process.env.MINIROUTER_DEBUG) process.stderr.write(`router send failed: ${err.code ?? err}\n`);
        return false;
      },
    );
  }

  /**
   * The first received frame not yet taken that matches `pred`; waits for one.
   * @param {(r: Received) => boolean} pred
   * @param {{timeout?: number, what?: string, peek?: boolean}} [opts]
   * @returns {Promise<Received>}
   */
  expect(pred, opts = {}) {
    const find = () => {
      const r = this.frames.find((x) => !x.taken && pred(x));
      if (r && !opts.peek) r.taken = true;
      return r;
    };
    const now = find();
    if (now) return Promise.resolve(now);
    let waiter;
    const p = new Promise((resolve) => {
      waiter = () => {
        const r = find();
        if (r) {
          this._waiters.delete(waiter);
          resolve(r);
        }
      };
      this._waiters.add(waiter);
    });
    return deadline(p, opts.timeout ?? 5000, opts.what ?? 'a frame').finally(() => this._waiters.delete(waiter));
  }

  /**
   * Waits for a frame of the given type (and matching `pred`).
   * @param {string} type
   * @param {(f: any, r: Received) => boolean} [pred]
   * @param {{timeout?: number, peer?: string}} [opts]
   * @returns {Promise<any>} the frame
   */
  async expectFrame(type, pred = () => true, opts = {}) {
    const r = await this.expect(
      (x) => x.frame?.type === type && (!opts.peer || x.peer === opts.peer) && pred(x.frame, x),
      { timeout: opts.timeout, what: type },
    );
    return r.frame;
  }

  /**
   * Waits for a HELLO and answers WELCOME.
   * @param {{interval?: number, liveness?: number, window?: number, session?: string, answer?: boolean, timeout?: number}} [opts]
   */
  async accept(opts = {}) {
    const r = await this.expect((x) => x.frame?.type === 'HELLO', { what: 'HELLO', timeout: opts.timeout ?? 5000 });
    if (opts.answer !== false) {
      await this.send(r.peerId, {
        type: 'WELCOME',
        flags: 0,
        version: PROTOCOL_VERSION,
        heartbeatIntervalMs: opts.interval ?? 1000,
        heartbeatLiveness: opts.liveness ?? 3,
        initialWindowSize: opts.window ?? 65536,
        attributes: [
          ['router', 'mini'],
          ['session', opts.session ?? 's1'],
        ],
      });
    }
    return { peerId: r.peerId, peer: r.peer, hello: /** @type {import('../../src/codec.js').HelloFrame} */ (r.frame), rec: r };
  }

  /**
   * Collects a response on a stream: SYN_REPLY, DATA until FIN (or HEADERS+FIN),
   * answering with WINDOW_UPDATEs so that any size flows.
   * @param {Buffer} peerId
   * @param {number} streamId
   * @param {{timeout?: number, credit?: boolean}} [opts]
   */
  async response(peerId, streamId, opts = {}) {
    const peer = peerId.toString('hex');
    const on = (/** @type {Received} */ x) =>
      x.peer === peer && x.frame !== null && 'streamId' in x.frame && x.frame.streamId === streamId && x.frame.type !== 'WINDOW_UPDATE';
    const first = await this.expect(on, { timeout: opts.timeout, what: `response on stream ${streamId}` });
    const reply = /** @type {any} */ (first.frame);
    if (reply.type !== 'SYN_REPLY') return { reply, status: null, headers: {}, body: Buffer.alloc(0), frames: [reply] };
    const headers = Object.fromEntries(reply.headers);
    /** @type {Buffer[]} */
    const chunks = [];
    const frames = [reply];
    /** @type {Record<string, string> | null} */
    let trailers = null;
    let fin = (reply.flags & FLAG_FIN) !== 0;
    while (!fin) {
      const r = await this.expect(on, { timeout: opts.timeout, what: `DATA on stream ${streamId}` });
      const f = /** @type {any} */ (r.frame);
      frames.push(f);
      if (f.type === 'DATA') {
        chunks.push(f.data);
        if (opts.credit !== false && f.data.length > 0) {
          await this.send(
            peerId,
            { type: 'WINDOW_UPDATE', flags: 0, streamId, deltaWindowSize: f.data.length },
            { type: 'WINDOW_UPDATE', flags: 0, streamId: 0, deltaWindowSize: f.data.length },
          );
        }
      } else if (f.type === 'HEADERS') {
        trailers = Object.fromEntries(f.headers);
      } else if (f.type === 'RST_STREAM') {
        return { reply, status: headers[':status'], headers, body: Buffer.concat(chunks), frames, reset: f, trailers };
      }
      fin = (f.flags & FLAG_FIN) !== 0;
    }
    return { reply, status: headers[':status'], headers, body: Buffer.concat(chunks), frames, trailers };
  }

  /** Frames received from a peer after index `from`, for assertions on absence. */
  framesOf(peer, from = 0) {
    return this.frames.slice(from).filter((x) => x.peer === peer);
  }

  close() {
    this.closed = true;
    for (const w of this._waiters) w();
    this.sock.close();
  }
}

/**
 * A SYN_STREAM for a request.
 * @param {number} streamId
 * @param {string} method
 * @param {string} path
 * @param {{fin?: boolean, headers?: [string, string][], host?: string}} [opts]
 * @returns {import('../../src/codec.js').SynStreamFrame}
 */
export function syn(streamId, method, path, opts = {}) {
  return {
    type: 'SYN_STREAM',
    flags: opts.fin === false ? 0 : FLAG_FIN,
    streamId,
    associatedStreamId: 0,
    priority: 3,
    slot: 0,
    headers: [
      [':method', method],
      [':path', path],
      [':version', 'HTTP/1.1'],
      [':host', opts.host ?? 'example.com'],
      [':scheme', 'http'],
      ['x-request-id', `req-${streamId}`],
      ...(opts.headers ?? []),
    ],
  };
}

/**
 * @param {number} streamId
 * @param {Buffer | string} data
 * @param {boolean} [fin]
 * @returns {import('../../src/codec.js').DataFrame}
 */
export function data(streamId, data, fin = false) {
  return { type: 'DATA', flags: fin ? FLAG_FIN : 0, streamId, data: Buffer.isBuffer(data) ? data : Buffer.from(data) };
}
