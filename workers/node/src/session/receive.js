// @ts-check
/**
 * The receive path of an established session: each decoded frame, or decoding
 * error, with the reactions of §4.6, §10 and §11, and the router's GOAWAY
 * (§9.3, §9.8, §9.10).
 */
import {
  reactionFor,
  effectiveGoawayCode,
  effectiveRstCode,
  rstName,
  goawayName,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  GOAWAY,
  RST,
  SETTING,
  MAX_WINDOW,
} from '../codec.js';
import { isForbiddenField } from '../http.js';
import { SessionHeartbeat } from './heartbeat.js';

const REQUIRED_PSEUDO = [':method', ':path', ':version', ':host', ':scheme'];

export class SessionReceive extends SessionHeartbeat {
  /** @param {import('../codec.js').FrameError} err */
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

  /** @param {import('../codec.js').Frame} f */
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

  /** @param {import('../codec.js').SynStreamFrame} f */
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
    const protocol = byName.get(':protocol');
    // §8.8.1: a WebSocket opens with a GET, without FIN or content-length.
    if (protocol !== undefined && (protocol !== 'websocket' || byName.get(':method') !== 'GET' || fin || contentLength !== null)) {
      return bad(`:protocol ${JSON.stringify(protocol)} on a ${byName.get(':method')} stream`);
    }
    this.lastGood = id;
    this._openStream(f, fin, contentLength);
  }

  /** @param {import('../codec.js').DataFrame} f */
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

  /** @param {import('../codec.js').HeadersFrame} f */
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

  /** @param {import('../codec.js').RstStreamFrame} f */
  _onRst(f) {
    const s = this.streams.get(f.streamId);
    if (!s) return; // closed or never-opened: ignore (§5.3)
    const code = effectiveRstCode(f.statusCode);
    this._log('info', 'stream reset by the router', { stream: s.id, status: rstName(f.statusCode) });
    this._resetStream(s, code, `RST_STREAM ${rstName(f.statusCode)}`, false);
  }

  /** @param {import('../codec.js').WindowUpdateFrame} f */
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

  /** @param {import('../codec.js').SettingsFrame} f */
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

  /** @param {import('../codec.js').GoawayFrame} f */
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
}
