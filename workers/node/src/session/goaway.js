// @ts-check
/**
 * How a session ends: a session error (§9.10), a dead session (§9.6), the end
 * of a drain (§9.7, §9.8), and the close that cancels every stream and flushes
 * the last frames.
 */
import { goawayName } from '../codec.js';
import { SessionStreams } from './streams.js';

export class SessionGoaway extends SessionStreams {
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
