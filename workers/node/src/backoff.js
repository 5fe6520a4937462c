// @ts-check
/**
 * The registration schedule of one endpoint (PROTOCOL.md §9.4), before jitter.
 */
export class Backoff {
  /**
   * @param {{initial: number, max: number}} opts  rule 2's first delay and ceiling, in ms
   */
  constructor(opts) {
    this.initial = opts.initial;
    this.max = opts.max;
    /** rule 2's delay after the consecutive failures so far (ms) */
    this._delay = 0;
    /** when set, replaces `_delay` for the next attempt only: a router shutting down (rule 4) */
    /** @type {number | undefined} */
    this._shutdownWait = undefined;
  }

  /** The wait before the next attempt, in ms. */
  delay() {
    return this._shutdownWait ?? this._delay;
  }

  /** A failed attempt (rule 2): 1x, then twice the previous delay, up to the ceiling. */
  failed() {
    this._delay = this._delay === 0 ? this.initial : Math.min(this._delay * 2, this.max);
    this._shutdownWait = undefined;
  }

  /** A valid WELCOME (rule 3). */
  succeeded() {
    this._delay = 0;
    this._shutdownWait = undefined;
  }

  /**
   * HELLO answered with GOAWAY(0, OK): the router is shutting down and a
   * replacement may soon bind the endpoint (rule 4). The next attempt waits
   * the heartbeat interval of the endpoint's last WELCOME (undefined if none)
   * capped at the initial delay, and rule 2's count neither grows nor resets,
   * so the replacement is found within about one interval of its start
   * however long the old router drains.
   * @param {number | undefined} lastInterval ms
   */
  routerShuttingDown(lastInterval) {
    this._shutdownWait = lastInterval === undefined ? this.initial : Math.min(lastInterval, this.initial);
  }
}
