// @ts-check
/**
 * Streams (§10): opening one for a SYN_STREAM, the handler's response through
 * the stream port, sending what the response windows allow (§11.2), and
 * closing or resetting a stream (§10.5).
 */
import { rstName, FLAG_FIN, RST, MAX_PAYLOAD } from '../codec.js';
import { Request, Response } from '../http.js';
import { SessionFlow } from './flow.js';

/**
 * @typedef {import('./base.js').StreamState} StreamState
 */

export class SessionStreams extends SessionFlow {
  /**
   * @param {import('../codec.js').SynStreamFrame} f
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
    /** @type {import('../http.js').StreamPort} */
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
    s.req = new Request(port, { pairs: f.headers, priority: f.priority, signal: abort.signal, fin, goingAway: this.goingAway.signal });
    const requestId = s.req.headers['x-request-id'];
    s.res = new Response(port, {
      method,
      websocket: s.req.websocket,
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
}
