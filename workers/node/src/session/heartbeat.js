// @ts-check
/**
 * Heartbeats (§9.5): a PING when nothing was sent for one interval, death
 * after I × L ms without a frame, and the PING echo (§5.5).
 */
import { performance } from 'node:perf_hooks';
import { SessionGoaway } from './goaway.js';
import { MAX_TIMER } from './base.js';

export class SessionHeartbeat extends SessionGoaway {
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

  /** @param {import('../codec.js').PingFrame} f */
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
}
