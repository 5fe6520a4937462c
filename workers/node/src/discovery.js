// @ts-check
/**
 * Endpoint names and discovery (PROTOCOL.md §3.5): which endpoints are static
 * and which are named, the DNS lookups of a named endpoint (A, else AAAA; SRV
 * then each target's addresses), the wait before the next lookup, and the
 * per-name loop that keeps one registration loop per resolved router endpoint.
 */
import dns from 'node:dns';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** The default resolve interval R (ms, §3.5). */
export const DEFAULT_RESOLVE_INTERVAL = 5000;
/** A lookup driven by a short TTL comes no sooner than this after the previous one (ms), or R if R is shorter. */
export const MIN_TTL_WAIT = 1000;
/** Each wait is shortened by a random amount of up to this fraction (§3.5). */
export const RESOLVE_JITTER = 0.1;

/**
 * @typedef {{kind: 'static', endpoint: string}
 *   | {kind: 'host', endpoint: string, host: string, port: number}
 *   | {kind: 'srv', endpoint: string, name: string}} EndpointSpec
 *
 * @typedef {object} LookupResult
 * @property {string[]} endpoints  the router endpoints of the answer, `tcp://address:port`, sorted
 * @property {number | undefined} ttl  the shortest TTL of the address records, ms (none for an SRV answer's own records: Node's resolveSrv does not give them)
 */

/** @param {string} endpoint @param {string} why */
function configError(endpoint, why) {
  return new TypeError(`invalid endpoint ${JSON.stringify(endpoint)}: ${why} (§3.5)`);
}

/**
 * Is `name` a DNS name (labels of letters, digits, `-` and `_`, 1 to 63 bytes,
 * 253 in all, an optional final dot)?
 * @param {string} name
 */
function isDnsName(name) {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare === '' || bare.length > 253) return false;
  return bare.split('.').every((l) => /^[A-Za-z0-9_-]{1,63}$/.test(l));
}

/** @param {string} endpoint @param {string} s */
function parsePort(endpoint, s) {
  if (!/^[0-9]{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535) {
    throw configError(endpoint, s === '' ? 'a tcp:// endpoint needs a port' : `port ${JSON.stringify(s)} is not a number from 1 to 65535`);
  }
  return Number(s);
}

/**
 * Classifies a worker endpoint (§3.5), or throws a TypeError that names it:
 * `ipc://path` and `tcp://address:port` with an IP literal are static;
 * `tcp://name:port` and `dns+srv://_service._tcp.name` are named. A
 * `dns+srv://` endpoint with a port or a path, and a `tcp://` endpoint without
 * a port, are refused. Other ZeroMQ transports are passed through as static.
 * @param {string} endpoint
 * @returns {EndpointSpec}
 */
export function parseEndpoint(endpoint) {
  if (typeof endpoint !== 'string' || endpoint === '') throw configError(String(endpoint), 'empty');
  if (endpoint.startsWith('dns+srv://')) {
    const rest = endpoint.slice('dns+srv://'.length);
    if (rest.includes('/')) throw configError(endpoint, 'a dns+srv:// endpoint takes no path');
    if (rest.includes(':')) throw configError(endpoint, 'a dns+srv:// endpoint takes no port (each SRV record gives one)');
    if (!isDnsName(rest) || !/^_[^.]+\._tcp\.[^.]/i.test(rest)) {
      throw configError(endpoint, 'a dns+srv:// endpoint names an SRV record, _service._tcp.name');
    }
    return { kind: 'srv', endpoint, name: rest };
  }
  if (!endpoint.startsWith('tcp://')) {
    if (!/^[a-z][a-z0-9+.-]*:\/\/./.test(endpoint)) throw configError(endpoint, 'expected tcp://host:port, ipc://path or dns+srv://_service._tcp.name');
    return { kind: 'static', endpoint };
  }
  const rest = endpoint.slice('tcp://'.length);
  if (rest.includes('/')) throw configError(endpoint, 'a tcp:// endpoint takes no path');
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || !net.isIPv6(rest.slice(1, close))) throw configError(endpoint, 'brackets hold an IPv6 address');
    const after = rest.slice(close + 1);
    if (!after.startsWith(':')) throw configError(endpoint, 'a tcp:// endpoint needs a port');
    parsePort(endpoint, after.slice(1));
    return { kind: 'static', endpoint };
  }
  const colon = rest.lastIndexOf(':');
  if (colon < 0) throw configError(endpoint, 'a tcp:// endpoint needs a port');
  const host = rest.slice(0, colon);
  const port = parsePort(endpoint, rest.slice(colon + 1));
  if (net.isIPv4(host)) return { kind: 'static', endpoint };
  if (net.isIPv6(host)) throw configError(endpoint, 'an IPv6 address goes in brackets');
  if (!isDnsName(host)) throw configError(endpoint, `${JSON.stringify(host)} is neither an IP address nor a DNS name`);
  return { kind: 'host', endpoint, host, port };
}

/**
 * Parses a nameserver `IP:PORT` (IPv6 in brackets; a bare IP means port 53)
 * into the form dns.Resolver#setServers takes, or throws.
 * @param {string} ns
 */
export function parseNameserver(ns) {
  const bad = () => new TypeError(`invalid nameserver ${JSON.stringify(ns)}: expected IP:PORT`);
  if (typeof ns !== 'string') throw bad();
  if (net.isIP(ns)) return ns;
  const m = /^(?:\[([^\]]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(ns);
  if (!m) throw bad();
  const ip = m[1] ?? m[2];
  if (m[1] !== undefined ? !net.isIPv6(ip) : !net.isIPv4(ip)) throw bad();
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw bad();
  return ns;
}

/**
 * The wait (ms) from the start of one lookup to the start of the next (§3.5):
 * R, or the TTL when it is shorter but never less than 1 s (or R, if R is
 * shorter); each wait shortened by a random amount of up to 10%, still never
 * below that floor on the TTL path.
 * @param {number} interval  R, ms
 * @param {number | undefined} ttl  the answer's shortest TTL, ms (undefined: unknown, or a failed lookup)
 * @param {() => number} [random]  0 for no jitter
 */
export function nextLookupWait(interval, ttl, random = Math.random) {
  const shorten = (/** @type {number} */ ms) => ms - ms * RESOLVE_JITTER * random();
  if (ttl === undefined || ttl >= interval) return shorten(interval);
  const floor = Math.min(MIN_TTL_WAIT, interval);
  return Math.max(floor, shorten(Math.max(ttl, floor)));
}

/** A failed lookup (§3.5): the resolver's error, or an answer with no usable address. */
export class LookupError extends Error {
  /** @param {string} message @param {string} code */
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/** @param {unknown} err */
function lookupError(err) {
  if (err instanceof LookupError) return err;
  const e = /** @type {NodeJS.ErrnoException} */ (err);
  return new LookupError(e?.message ?? String(err), e?.code ?? 'ERROR');
}

/**
 * A name's addresses: its A records, else its AAAA records (§3.5). An empty
 * list when the name has neither; any other resolver error is thrown.
 *
 * Without a configured nameserver, the system's getaddrinfo answers
 * (dns.lookup): it reads /etc/hosts as every other program on the host does,
 * so `tcp://localhost:8000` keeps working, but it gives no TTL (the interval
 * alone then applies). With a nameserver, the Resolver asks it directly and
 * gives the records' TTLs.
 * @param {dns.promises.Resolver} resolver
 * @param {string} name
 * @param {boolean} system
 * @returns {Promise<{addresses: string[], v6: boolean, ttl: number | undefined}>}
 */
async function resolveAddresses(resolver, name, system) {
  if (system) {
    const all = await dns.promises.lookup(name, { all: true });
    const v4 = all.filter((a) => a.family === 4).map((a) => a.address);
    const v6 = v4.length === 0;
    const addresses = v6 ? all.filter((a) => a.family === 6).map((a) => a.address) : v4;
    return { addresses: [...new Set(addresses)], v6, ttl: undefined };
  }
  const noData = (/** @type {any} */ err) => err?.code === dns.NODATA;
  /** @type {dns.RecordWithTtl[]} */
  let recs = [];
  try {
    recs = await resolver.resolve4(name, { ttl: true });
  } catch (err) {
    if (!noData(err)) throw err;
  }
  let v6 = false;
  if (recs.length === 0) {
    try {
      recs = await resolver.resolve6(name, { ttl: true });
      v6 = true;
    } catch (err) {
      if (!noData(err)) throw err;
    }
  }
  const ttl = recs.length ? Math.min(...recs.map((r) => r.ttl)) * 1000 : undefined;
  return { addresses: recs.map((r) => r.address), v6, ttl };
}

/**
 * Looks a named endpoint up once. Throws a LookupError when the lookup fails
 * (§3.5): a resolver error (timeout, SERVFAIL, REFUSED, NXDOMAIN, unreachable
 * nameserver) for the name or for any SRV target, or an answer with no usable
 * address.
 * @param {dns.promises.Resolver} resolver
 * @param {Exclude<EndpointSpec, {kind: 'static'}>} spec
 * @param {boolean} [system]  addresses from the system's getaddrinfo (no nameserver configured)
 * @returns {Promise<LookupResult>}
 */
export async function lookupEndpoint(resolver, spec, system = false) {
  /** @type {{host: string, port: number}[]} */
  let targets;
  try {
    if (spec.kind === 'host') {
      targets = [{ host: spec.host, port: spec.port }];
    } else {
      const srv = await resolver.resolveSrv(spec.name);
      // A target of "." (empty here) or a port of 0 offers no service (RFC 2782).
      targets = srv.filter((r) => r.name !== '' && r.name !== '.' && r.port > 0).map((r) => ({ host: r.name, port: r.port }));
    }
    /** @type {Map<string, Promise<{addresses: string[], v6: boolean, ttl: number | undefined}>>} */
    const byHost = new Map();
    for (const t of targets) if (!byHost.has(t.host)) byHost.set(t.host, resolveAddresses(resolver, t.host, system));
    /** @type {Map<string, {addresses: string[], v6: boolean, ttl: number | undefined}>} */
    const answers = new Map();
    await Promise.all([...byHost].map(async ([host, p]) => answers.set(host, await p)));
    /** @type {Set<string>} */
    const endpoints = new Set();
    /** @type {number | undefined} */
    let ttl;
    for (const t of targets) {
      const a = /** @type {{addresses: string[], v6: boolean, ttl: number | undefined}} */ (answers.get(t.host));
      for (const ip of a.addresses) endpoints.add(a.v6 ? `tcp://[${ip}]:${t.port}` : `tcp://${ip}:${t.port}`);
      if (a.ttl !== undefined) ttl = ttl === undefined ? a.ttl : Math.min(ttl, a.ttl);
    }
    if (endpoints.size === 0) {
      throw new LookupError(spec.kind === 'srv' && targets.length === 0 ? `no usable SRV record for ${spec.name}` : 'no usable address in the answer', 'ENOADDRESS');
    }
    return { endpoints: [...endpoints].sort(), ttl };
  } catch (err) {
    throw lookupError(err);
  }
}

/**
 * @typedef {object} AddressLoop  one resolved router endpoint's registration loop (worker.js)
 * @property {string} endpoint
 * @property {Promise<void>} done   resolves when the loop has stopped registering
 * @property {(timeout: number) => Promise<void>} stop  stop registering; drain its sessions (§9.7)
 *
 * @typedef {object} DiscoveryHost  what a Discovery needs of its worker
 * @property {string} id
 * @property {boolean} stopping
 * @property {number} resolveInterval
 * @property {string | undefined} nameserver
 * @property {boolean} jitter
 * @property {number} gracefulTimeout
 * @property {import('./session/base.js').Logger} logger
 * @property {Set<() => void>} _wakeups  called when the worker shuts down
 * @property {(ms: number) => Promise<void>} _sleep
 * @property {(endpoint: string) => AddressLoop} _startLoop
 * @property {(event: string, ...args: any[]) => boolean} emit
 */

/**
 * The loop of one named endpoint (§3.5): looks the name up every interval,
 * keeps one registration loop per router endpoint of the resolved set, starts
 * one at once for an endpoint that appears, and stops and drains the loop of
 * one that leaves. A failed lookup changes nothing and is logged once per run
 * of failures.
 */
export class Discovery {
  /**
   * @param {DiscoveryHost} worker
   * @param {Exclude<EndpointSpec, {kind: 'static'}>} spec
   */
  constructor(worker, spec) {
    this.worker = worker;
    this.spec = spec;
    this.endpoint = spec.endpoint;
    /** the resolved set: router endpoint -> its registration loop */
    /** @type {Map<string, AddressLoop>} */
    this.loops = new Map();
    /** loops of router endpoints that left the set, until they stop */
    /** @type {Set<AddressLoop>} */
    this.leaving = new Set();
    this.resolver = new dns.promises.Resolver({ timeout: 2000, tries: 2 });
    if (worker.nameserver) this.resolver.setServers([worker.nameserver]);
    /** consecutive failed lookups */
    this.failures = 0;
    this.lookups = 0;
  }

  /** @param {'debug' | 'info' | 'warn' | 'error'} level @param {string} msg @param {Record<string, unknown>} [fields] */
  _log(level, msg, fields = {}) {
    this.worker.logger.log(level, msg, { worker: this.worker.id, endpoint: this.endpoint, ...fields });
  }

  /** Runs until the worker shuts down, then waits for every registration loop to stop. */
  async run() {
    const w = this.worker;
    const random = w.jitter ? Math.random : () => 0;
    while (!w.stopping) {
      const started = performance.now();
      const cancel = () => this.resolver.cancel();
      w._wakeups.add(cancel);
      /** @type {LookupResult | undefined} */
      let result;
      /** @type {LookupError | undefined} */
      let error;
      try {
        result = await lookupEndpoint(this.resolver, this.spec, !this.worker.nameserver);
      } catch (err) {
        error = lookupError(err);
      } finally {
        w._wakeups.delete(cancel);
      }
      if (w.stopping) break;
      this.lookups++;
      let wait;
      if (result) {
        this._apply(result.endpoints);
        wait = nextLookupWait(w.resolveInterval, result.ttl, random);
        w.emit('lookup', this.endpoint, { ok: true, endpoints: result.endpoints, ttl: result.ttl });
      } else {
        const err = /** @type {LookupError} */ (error);
        if (this.failures++ === 0) {
          // One line for a run of consecutive failures (§3.5).
          this._log('warn', 'lookup failed: keeping the resolved set and its sessions', {
            error: err.message,
            code: err.code,
            resolved: [...this.loops.keys()],
          });
        }
        wait = nextLookupWait(w.resolveInterval, undefined, random);
        w.emit('lookup', this.endpoint, { ok: false, error: err });
      }
      const left = started + wait - performance.now();
      if (left > 0 && !w.stopping) await w._sleep(left);
    }
    await Promise.all([...this.loops.values(), ...this.leaving].map((l) => l.done));
  }

  /**
   * Applies a successful lookup to the resolved set (§3.5's table).
   * @param {string[]} endpoints
   */
  _apply(endpoints) {
    const next = new Set(endpoints);
    if (this.failures > 0) {
      this._log('info', 'lookup succeeded again', { failures: this.failures, resolved: endpoints });
      this.failures = 0;
    } else if (this.lookups === 1) {
      this._log('info', 'resolved', { resolved: endpoints });
    }
    for (const [ep, loop] of this.loops) {
      if (next.has(ep)) continue;
      this.loops.delete(ep);
      this.leaving.add(loop);
      this._log('info', 'router endpoint left the answer: draining its sessions', { router: ep });
      void loop.stop(this.worker.gracefulTimeout);
      void loop.done.then(() => this.leaving.delete(loop));
    }
    for (const ep of endpoints) {
      if (this.loops.has(ep)) continue;
      if (this.lookups > 1) this._log('info', 'router endpoint joined the answer: registering', { router: ep });
      this.loops.set(ep, this.worker._startLoop(ep));
    }
  }
}
