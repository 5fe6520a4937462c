// @ts-check
/**
 * The outgoing queue: frames are encoded, queued, and written to the socket in
 * batches; a send that fails (EAGAIN for one heartbeat interval, §3.4) makes
 * the session dead.
 */
import { performance } from 'node:perf_hooks';
import { encodeFrame } from '../codec.js';
import { SessionBase } from './base.js';

export class SessionSend extends SessionBase {
  /** @param {import('../codec.js').Frame} frame */
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
}
