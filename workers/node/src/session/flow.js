// @ts-check
/**
 * Flow control of the request direction (§11.1, §11.3): the session receive
 * window, credit for consumed and discarded data, and the hand-over of
 * request body chunks as the handler reads them.
 */
import { GOAWAY } from '../codec.js';
import { SessionSend } from './send.js';

/**
 * @typedef {import('./base.js').StreamState} StreamState
 */

export class SessionFlow extends SessionSend {
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
}
