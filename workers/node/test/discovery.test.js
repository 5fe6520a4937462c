// Named endpoints and discovery (PROTOCOL.md §3.5), against a DNS server
// written in the test (test/helpers/dns.js) whose answers the tests change, and
// mini routers (test/helpers/router.js) bound on 127.0.0.1, 127.0.0.2 and
// 127.0.0.3 (Linux routes all of 127.0.0.0/8 to loopback). No sleeps: every
// wait is for an event (a frame, a DNS query, a lookup), with a deadline.
import { test as nodeTest } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import dns from 'node:dns';
import { MiniRouter, syn, deadline } from './helpers/router.js';
import { DnsServer } from './helpers/dns.js';
import { deferred, testLogger } from './helpers/setup.js';
import {
  Worker,
  testApp,
  GOAWAY,
  RST,
  parseEndpoint,
  parseNameserver,
  nextLookupWait,
  lookupEndpoint,
  LookupError,
} from '../src/index.js';

/** Every test has a hard deadline, so that a hang fails instead of blocking the run. */
const test = (name, fn) => nodeTest(name, { timeout: 10000 }, fn);

/** The resolve interval R of these tests (ms). */
const R = 250;
const NAME = 'routers.test';
const here = path.dirname(fileURLToPath(import.meta.url));

/** @type {WeakMap<object, (() => unknown)[]>} */
const cleanups = new WeakMap();
/**
 * Registers a cleanup; a test's cleanups run last-registered first (the
 * worker is shut down before its routers close, so its GOAWAYs go out).
 * @param {import('node:test').TestContext} t
 * @param {() => unknown} fn
 */
function defer(t, fn) {
  let stack = cleanups.get(t);
  if (!stack) {
    const s = /** @type {(() => unknown)[]} */ ([]);
    stack = s;
    cleanups.set(t, s);
    t.after(async () => {
      while (s.length) await /** @type {() => unknown} */ (s.pop())();
    });
  }
  stack.push(fn);
}

/**
 * Mini routers bound on 127.0.0.1 ... 127.0.0.n, all on the same port.
 * @param {import('node:test').TestContext} t
 * @param {number} n
 */
async function routersOnOnePort(t, n) {
  for (let attempt = 0; ; attempt++) {
    const first = await MiniRouter.start();
    const port = Number(first.endpoint.split(':').pop());
    const routers = [first];
    try {
      for (let i = 2; i <= n; i++) routers.push(await MiniRouter.start({ endpoint: `tcp://127.0.0.${i}:${port}` }));
    } catch (err) {
      for (const r of routers) r.close();
      if (attempt < 5) continue; // the port was taken on another address: try another
      throw err;
    }
    defer(t, () => {
      for (const r of routers) if (!r.closed) r.close();
    });
    return { routers, port };
  }
}

/** @param {import('node:test').TestContext} t */
async function dnsServer(t) {
  const server = await DnsServer.start();
  defer(t, () => server.close());
  return server;
}

/** A logger that keeps every line, and forwards to the test logger. */
function captureLogger() {
  /** @type {({level: string, msg: string} & Record<string, any>)[]} */
  const lines = [];
  return {
    lines,
    log(/** @type {any} */ level, /** @type {string} */ msg, fields = {}) {
      lines.push({ level, msg, ...fields });
      testLogger.log(level, msg, fields);
    },
  };
}

/**
 * Starts a worker on `connect`, asking `nameserver`, with R = 250 ms.
 * @param {import('node:test').TestContext} t
 * @param {DnsServer} nameserver
 * @param {string[]} connect
 * @param {object} [opts]  more worker options
 */
function startWorker(t, nameserver, connect, opts = {}) {
  const logger = captureLogger();
  const worker = new Worker({
    id: 'w1',
    connect,
    nameserver: nameserver.address,
    resolveInterval: R,
    handler: testApp('w1'),
    logger,
    linger: 100,
    backoffInitial: 100,
    jitter: false,
    ...opts,
  });
  worker.start();
  defer(t, () => worker.shutdown({ timeout: 200 }));
  return { worker, lines: logger.lines };
}

/**
 * Waits for `n` more lookups of the worker that match `pred`.
 * @param {Worker} worker
 * @param {number} n
 * @param {(r: any) => boolean} [pred]
 * @param {number} [ms]
 */
function lookups(worker, n, pred = () => true, ms = 4000) {
  let seen = 0;
  let on;
  const p = new Promise((resolve) => {
    on = (_endpoint, result) => {
      if (pred(result) && ++seen >= n) resolve(undefined);
    };
    worker.on('lookup', on);
  });
  return deadline(p, ms, `${n} lookups`).finally(() => worker.off('lookup', on));
}

/** HELLOs a router received. @param {MiniRouter} router */
const hellos = (router) => router.frames.filter((x) => x.frame?.type === 'HELLO');
/** GOAWAYs a router received. @param {MiniRouter} router */
const goaways = (router) => router.frames.filter((x) => x.frame?.type === 'GOAWAY');

/** The worker's session to a router endpoint, once established. @param {Worker} worker @param {string} endpoint */
function sessionTo(worker, endpoint) {
  const find = () => [...worker.sessions].find((s) => s.endpoint === endpoint && s.state === 'established');
  const now = find();
  if (now) return Promise.resolve(now);
  let on;
  const p = new Promise((resolve) => {
    on = () => {
      const s = find();
      if (s) resolve(s);
    };
    worker.on('established', on);
  });
  return deadline(p, 3000, `a session to ${endpoint}`).finally(() => worker.off('established', on));
}

test('a tcp://name:port endpoint: one session per resolved address (A records only, no AAAA asked)', async (t) => {
  const ns = await dnsServer(t);
  const { routers, port } = await routersOnOnePort(t, 3);
  ns.set(NAME, { A: ['127.0.0.1', '127.0.0.2'], AAAA: ['::1'] });
  const { worker } = startWorker(t, ns, [`tcp://${NAME}:${port}`]);
  const a1 = await routers[0].accept({ timeout: 3000 });
  const a2 = await routers[1].accept({ timeout: 3000 });
  assert.equal(a1.hello.attributes[0][1], 'w1');
  await sessionTo(worker, `tcp://127.0.0.1:${port}`);
  await sessionTo(worker, `tcp://127.0.0.2:${port}`);
  // Two more lookups with the same answer change nothing.
  await lookups(worker, 2);
  assert.equal(hellos(routers[0]).length, 1, 'one HELLO on 127.0.0.1');
  assert.equal(hellos(routers[1]).length, 1, 'one HELLO on 127.0.0.2');
  assert.equal(hellos(routers[2]).length, 0, 'nothing on 127.0.0.3, which is not in the answer');
  assert.notEqual(a1.peer, a2.peer);
  assert.deepEqual([...worker.sessions].map((s) => s.endpoint).sort(), [`tcp://127.0.0.1:${port}`, `tcp://127.0.0.2:${port}`]);
  assert.equal(ns.queriesFor(NAME, 'AAAA').length, 0, 'AAAA is asked only when there is no A record');
  assert.ok(ns.queriesFor(NAME, 'A').length >= 3);
});

test('an address added to the answer gets a HELLO within the resolve interval, without backoff', async (t) => {
  const ns = await dnsServer(t);
  const { routers, port } = await routersOnOnePort(t, 2);
  ns.set(NAME, { A: ['127.0.0.1'] });
  const { worker } = startWorker(t, ns, [`tcp://${NAME}:${port}`], { backoffInitial: 5000 });
  await routers[0].accept({ timeout: 3000 });
  await lookups(worker, 1);
  ns.set(NAME, { A: ['127.0.0.1', '127.0.0.2'] });
  const t0 = performance.now();
  await routers[1].accept({ timeout: 3000 });
  const elapsed = performance.now() - t0;
  assert.ok(elapsed < R + 750, `HELLO on the new address ${Math.round(elapsed)} ms after the change (R = ${R} ms)`);
  await sessionTo(worker, `tcp://127.0.0.2:${port}`);
  await lookups(worker, 1);
  assert.equal(hellos(routers[0]).length, 1, 'the existing session is untouched');
  assert.equal(goaways(routers[0]).length, 0);
});

test('an address removed from the answer: GOAWAY(last-good, OK), its streams finish, no new HELLO; the others untouched', async (t) => {
  const ns = await dnsServer(t);
  const { routers, port } = await routersOnOnePort(t, 3);
  const gate = deferred();
  const entered = deferred();
  const app = testApp('w1');
  const handler = async (req, res) => {
    if (req.url !== '/hold') return app(req, res);
    entered.resolve();
    await gate.promise;
    res.end('held');
  };
  ns.set(NAME, { A: ['127.0.0.1', '127.0.0.2', '127.0.0.3'] });
  const { worker } = startWorker(t, ns, [`tcp://${NAME}:${port}`], { handler });
  const accepted = [];
  for (const r of routers) accepted.push(await r.accept({ timeout: 3000 }));
  const drained = await sessionTo(worker, `tcp://127.0.0.2:${port}`);
  await sessionTo(worker, `tcp://127.0.0.1:${port}`);
  await sessionTo(worker, `tcp://127.0.0.3:${port}`);
  const [, r2] = routers;
  const { peerId, peer } = accepted[1];
  await r2.send(peerId, syn(1, 'GET', '/hold'));
  await deadline(entered.promise, 3000, 'the handler to start');

  ns.set(NAME, { A: ['127.0.0.1', '127.0.0.3'] });
  const goaway = await r2.expectFrame('GOAWAY', () => true, { peer, timeout: 3000 });
  assert.equal(goaway.statusCode, GOAWAY.OK);
  assert.equal(goaway.lastGoodStreamId, 1);
  assert.equal(drained.state, 'draining');
  // A stream above last-good is refused; the stream below it finishes.
  await r2.send(peerId, syn(3, 'GET', '/hello'));
  const rst = await r2.expectFrame('RST_STREAM', (f) => f.streamId === 3, { peer });
  assert.equal(rst.statusCode, RST.REFUSED_STREAM);
  const closed = once(drained, 'closed');
  gate.resolve();
  const res = await r2.response(peerId, 1);
  assert.equal(res.status, '200');
  assert.equal(res.body.toString(), 'held');
  const [reason] = await deadline(closed, 3000, 'the drained session to close');
  assert.equal(reason, 'drained');

  // Several lookups later: no new registration on 127.0.0.2, nothing new on the others.
  await lookups(worker, 3);
  assert.equal(hellos(r2).length, 1, 'never registers again on a removed address');
  for (const r of [routers[0], routers[2]]) {
    assert.equal(hellos(r).length, 1);
    assert.equal(goaways(r).length, 0);
  }
  assert.deepEqual([...worker.sessions].map((s) => [s.endpoint, s.state]).sort(), [
    [`tcp://127.0.0.1:${port}`, 'established'],
    [`tcp://127.0.0.3:${port}`, 'established'],
  ]);
});

test('an address that leaves and comes back while its old session drains: a new session registers beside it', async (t) => {
  const ns = await dnsServer(t);
  const { routers, port } = await routersOnOnePort(t, 2);
  const gate = deferred();
  const entered = deferred();
  const app = testApp('w1');
  const handler = async (req, res) => {
    if (req.url !== '/hold') return app(req, res);
    entered.resolve();
    await gate.promise;
    res.end('held');
  };
  ns.set(NAME, { A: ['127.0.0.1', '127.0.0.2'] });
  const { worker } = startWorker(t, ns, [`tcp://${NAME}:${port}`], { handler });
  await routers[0].accept({ timeout: 3000 });
  const old = await routers[1].accept({ timeout: 3000 });
  const oldSession = await sessionTo(worker, `tcp://127.0.0.2:${port}`);
  await routers[1].send(old.peerId, syn(1, 'GET', '/hold'));
  await deadline(entered.promise, 3000, 'the handler to start');
  ns.set(NAME, { A: ['127.0.0.1'] });
  await routers[1].expectFrame('GOAWAY', (f) => f.statusCode === GOAWAY.OK, { peer: old.peer, timeout: 3000 });
  ns.set(NAME, { A: ['127.0.0.1', '127.0.0.2'] });
  const fresh = await routers[1].accept({ timeout: 3000, session: 's2' });
  assert.notEqual(fresh.peer, old.peer, 'a new socket');
  assert.equal(oldSession.state, 'draining', 'the old session still drains');
  gate.resolve();
  const res = await routers[1].response(old.peerId, 1);
  assert.equal(res.body.toString(), 'held');
  await routers[1].send(fresh.peerId, syn(1, 'GET', '/hello'));
  const r = await routers[1].response(fresh.peerId, 1);
  assert.equal(r.body.toString(), 'Hello from w1');
});

test('an address removed while its socket waits to register: the socket is closed at once, without GOAWAY', async (t) => {
  const ns = await dnsServer(t);
  const { routers, port } = await routersOnOnePort(t, 2);
  ns.set(NAME, { A: ['127.0.0.1', '127.0.0.2'] });
  const { worker } = startWorker(t, ns, [`tcp://${NAME}:${port}`], { handshakeTimeout: 8000 });
  await routers[0].accept({ timeout: 3000 });
  // 127.0.0.2 gets the HELLO but never answers it.
  const pending = await routers[1].accept({ timeout: 3000, answer: false });
  const waiting = [...worker.sessions].find((s) => s.endpoint === `tcp://127.0.0.2:${port}`);
  assert.equal(waiting?.state, 'hello-sent');
  const closed = once(waiting, 'closed');
  ns.set(NAME, { A: ['127.0.0.1'] });
  const t0 = performance.now();
  await deadline(closed, 3000, 'the waiting socket to close');
  assert.ok(performance.now() - t0 < R + 750, 'closed at the first lookup without the address');
  await lookups(worker, 2);
  assert.deepEqual(routers[1].framesOf(pending.peer).map((x) => x.frame?.type), ['HELLO'], 'nothing after the HELLO');
  assert.equal(hellos(routers[1]).length, 1, 'no new HELLO');
  assert.equal(worker.sessions.size, 1);
});

test('failed lookups (SERVFAIL, NXDOMAIN, no address) keep every session; one log line per run of failures, and the recovery is logged', async (t) => {
  const ns = await dnsServer(t);
  const { routers, port } = await routersOnOnePort(t, 2);
  ns.set(NAME, { A: ['127.0.0.1', '127.0.0.2'] });
  const endpoint = `tcp://${NAME}:${port}`;
  const { worker, lines } = startWorker(t, ns, [endpoint]);
  for (const r of routers) await r.accept({ timeout: 3000 });
  await sessionTo(worker, `tcp://127.0.0.1:${port}`);
  await sessionTo(worker, `tcp://127.0.0.2:${port}`);
  await lookups(worker, 1);
  const mark = lines.length;
  const frames = routers.map((r) => r.frames.length);

  ns.set(NAME, { rcode: 'SERVFAIL' });
  await lookups(worker, 3, (r) => !r.ok);
  ns.set(NAME, undefined); // NXDOMAIN
  await lookups(worker, 2, (r) => !r.ok && r.error.code === dns.NOTFOUND);
  ns.set(NAME, { A: [] }); // NOERROR, no A and no AAAA: no usable address
  await lookups(worker, 2, (r) => !r.ok && r.error.code === 'ENOADDRESS');

  const during = lines.slice(mark).filter((l) => l.endpoint === endpoint);
  assert.equal(during.length, 1, `one log line for the run of failures: ${JSON.stringify(during)}`);
  assert.equal(during[0].level, 'warn');
  assert.match(during[0].msg, /lookup failed/);
  assert.equal(during[0].code, dns.SERVFAIL, 'the line names the error');
  assert.deepEqual(during[0].resolved, [`tcp://127.0.0.1:${port}`, `tcp://127.0.0.2:${port}`]);
  routers.forEach((r, i) => {
    const since = r.frames.slice(frames[i]).map((x) => x.frame?.type);
    assert.ok(!since.includes('GOAWAY') && !since.includes('HELLO'), `router ${i + 1} saw ${since}`);
  });
  assert.deepEqual([...worker.sessions].map((s) => s.state), ['established', 'established']);

  ns.set(NAME, { A: ['127.0.0.1', '127.0.0.2'] });
  await lookups(worker, 1, (r) => r.ok);
  const recovered = lines.slice(mark).filter((l) => l.endpoint === endpoint);
  assert.equal(recovered.length, 2);
  assert.equal(recovered[1].msg, 'lookup succeeded again');
  assert.equal(recovered[1].failures, 7);
  // A new run of failures is logged again, once.
  ns.set(NAME, { rcode: 'SERVFAIL' });
  await lookups(worker, 2, (r) => !r.ok);
  assert.equal(lines.slice(mark).filter((l) => l.endpoint === endpoint && /lookup failed/.test(l.msg)).length, 2);
  assert.equal(worker.sessions.size, 2);
});

test('a first lookup that fails: no session, one log line, and the sessions start once the name resolves', async (t) => {
  const ns = await dnsServer(t);
  const { routers, port } = await routersOnOnePort(t, 1);
  const endpoint = `tcp://${NAME}:${port}`;
  const { worker, lines } = startWorker(t, ns, [endpoint]);
  await lookups(worker, 3, (r) => !r.ok);
  assert.equal(worker.sessions.size, 0);
  assert.equal(lines.filter((l) => l.endpoint === endpoint).length, 1);
  ns.set(NAME, { A: ['127.0.0.1'] });
  await routers[0].accept({ timeout: 3000 });
  assert.ok(lines.some((l) => l.endpoint === endpoint && l.msg === 'lookup succeeded again'));
});

test('dns+srv: SRV records, then each target\'s addresses, with the port of each SRV record', async (t) => {
  const ns = await dnsServer(t);
  const a = await MiniRouter.start({ endpoint: 'tcp://127.0.0.1:*' });
  const b = await MiniRouter.start({ endpoint: 'tcp://127.0.0.2:*' });
  const c = await MiniRouter.start({ endpoint: 'tcp://127.0.0.2:*' });
  defer(t, () => [a, b, c].forEach((r) => r.close()));
  const portOf = (/** @type {MiniRouter} */ r) => Number(r.endpoint.split(':').pop());
  const srv = '_zroute._tcp.svc.test';
  ns.set('a.svc.test', { A: ['127.0.0.1'] });
  ns.set('b.svc.test', { A: ['127.0.0.2'] });
  ns.set(srv, { SRV: [{ target: 'a.svc.test', port: portOf(a) }, { target: 'b.svc.test', port: portOf(b) }] });
  const { worker } = startWorker(t, ns, [`dns+srv://${srv}`]);
  await a.accept({ timeout: 3000 });
  const fromB = await b.accept({ timeout: 3000 });
  await sessionTo(worker, a.endpoint);
  await sessionTo(worker, b.endpoint);
  assert.ok(ns.queriesFor(srv, 'SRV').length >= 1);
  assert.equal(worker.sessions.size, 2);
  // The SRV record of b.svc.test now gives another port: a new session there, the old one drains.
  ns.set(srv, { SRV: [{ target: 'a.svc.test', port: portOf(a) }, { target: 'b.svc.test', port: portOf(c) }] });
  await c.accept({ timeout: 3000 });
  const g = await b.expectFrame('GOAWAY', () => true, { peer: fromB.peer, timeout: 3000 });
  assert.equal(g.statusCode, GOAWAY.OK);
  await sessionTo(worker, c.endpoint);
  await lookups(worker, 2);
  assert.equal(hellos(a).length, 1);
  assert.equal(hellos(b).length, 1);
  assert.equal(goaways(a).length, 0);
});

test('a TTL shorter than R: the next lookup comes when it runs out, but never sooner than 1 s', async (t) => {
  const ns = await dnsServer(t);
  const { routers, port } = await routersOnOnePort(t, 1);
  ns.set(NAME, { A: ['127.0.0.1'], ttl: 0 });
  startWorker(t, ns, [`tcp://${NAME}:${port}`], { resolveInterval: 2500 });
  const aQueries = (/** @type {number} */ n) => deadline(ns.until((q) => q.filter((x) => x.name === NAME).length >= n), 4000, `lookup ${n}`);
  // The first answer (TTL 0) has gone out when the query is counted; the next ones have TTL 2.
  await aQueries(1);
  ns.set(NAME, { A: ['127.0.0.1'], ttl: 2 });
  await routers[0].accept({ timeout: 3000 });
  await aQueries(3);
  const [q1, q2, q3] = ns.queriesFor(NAME, 'A');
  const gap = q2.at - q1.at;
  assert.ok(gap >= 990 && gap < 1500, `TTL 0 with R = 2500 ms: ${Math.round(gap)} ms between lookups (the 1 s floor)`);
  const gap2 = q3.at - q2.at;
  assert.ok(gap2 >= 1990 && gap2 < 2450, `TTL 2 s with R = 2500 ms: ${Math.round(gap2)} ms between lookups (the TTL)`);
});

test('the wait between lookups: R; the TTL when shorter, floored at 1 s or R; up to 10% shorter', () => {
  const none = () => 0;
  const most = () => 0.999999;
  assert.equal(nextLookupWait(5000, undefined, none), 5000);
  assert.equal(nextLookupWait(5000, 60000, none), 5000);
  assert.equal(nextLookupWait(5000, 3000, none), 3000);
  assert.equal(nextLookupWait(5000, 0, none), 1000);
  assert.equal(nextLookupWait(300, 0, none), 300, 'the floor is R when R is below 1 s');
  assert.equal(nextLookupWait(300, 100, none), 300);
  assert.ok(Math.abs(nextLookupWait(5000, undefined, most) - 4500) < 0.01, 'jitter: up to 10% shorter');
  assert.ok(Math.abs(nextLookupWait(5000, 3000, most) - 2700) < 0.01);
  assert.equal(nextLookupWait(5000, 1050, most), 1000, 'jitter never goes below the floor');
  for (let i = 0; i < 100; i++) {
    const w = nextLookupWait(5000, undefined);
    assert.ok(w > 4500 && w <= 5000);
  }
});

test('lookups: A before AAAA, AAAA only without A, SRV targets; failures are LookupErrors', async (t) => {
  const ns = await dnsServer(t);
  const resolver = new dns.promises.Resolver({ timeout: 1000, tries: 1 });
  resolver.setServers([ns.address]);
  const host = (/** @type {string} */ name, port = 9) => /** @type {any} */ (parseEndpoint(`tcp://${name}:${port}`));
  ns.set('both.test', { A: ['127.0.0.2', '127.0.0.1', '127.0.0.2'], AAAA: ['::1'], ttl: 30 });
  ns.set('six.test', { AAAA: ['::1', 'fd00::2'], ttl: 7 });
  ns.set('none.test', { A: [] });
  ns.set('bad.test', { rcode: 'SERVFAIL' });
  ns.set('refused.test', { rcode: 'REFUSED' });
  assert.deepEqual(await lookupEndpoint(resolver, host('both.test')), { endpoints: ['tcp://127.0.0.1:9', 'tcp://127.0.0.2:9'], ttl: 30000 });
  assert.equal(ns.queriesFor('both.test', 'AAAA').length, 0);
  assert.deepEqual(await lookupEndpoint(resolver, host('six.test', 80)), { endpoints: ['tcp://[::1]:80', 'tcp://[fd00::2]:80'], ttl: 7000 });
  for (const [name, code] of [['none.test', 'ENOADDRESS'], ['bad.test', dns.SERVFAIL], ['missing.test', dns.NOTFOUND], ['refused.test', dns.REFUSED]]) {
    await assert.rejects(lookupEndpoint(resolver, host(name)), (err) => err instanceof LookupError && err.code === code, name);
  }
  ns.set('_w._tcp.x.test', {
    SRV: [
      { target: 'both.test', port: 1 },
      { target: 'six.test', port: 2 }, // no A: its AAAA
      { target: 'none.test', port: 3 }, // no address: contributes nothing
      { target: '.', port: 0 }, // "no service here" (RFC 2782)
    ],
  });
  assert.deepEqual((await lookupEndpoint(resolver, /** @type {any} */ (parseEndpoint('dns+srv://_w._tcp.x.test')))).endpoints, [
    'tcp://127.0.0.1:1',
    'tcp://127.0.0.2:1',
    'tcp://[::1]:2',
    'tcp://[fd00::2]:2',
  ]);
  ns.set('_w._tcp.x.test', { SRV: [{ target: '.', port: 0 }] });
  await assert.rejects(lookupEndpoint(resolver, /** @type {any} */ (parseEndpoint('dns+srv://_w._tcp.x.test'))), { code: 'ENOADDRESS' });
  // A target whose lookup fails fails the whole lookup: nothing is dropped on a partial answer.
  ns.set('_w._tcp.x.test', { SRV: [{ target: 'both.test', port: 1 }, { target: 'bad.test', port: 2 }] });
  await assert.rejects(lookupEndpoint(resolver, /** @type {any} */ (parseEndpoint('dns+srv://_w._tcp.x.test'))), { code: dns.SERVFAIL });
});

test('without a nameserver, names come from the system (getaddrinfo): localhost resolves from /etc/hosts', async () => {
  const resolver = new dns.promises.Resolver();
  const found = await lookupEndpoint(resolver, /** @type {any} */ (parseEndpoint('tcp://localhost:8000')), true);
  assert.ok(found.endpoints.includes('tcp://127.0.0.1:8000'), JSON.stringify(found));
  assert.equal(found.ttl, undefined);
});

test('configuration: static and named endpoints; a dns+srv endpoint with a port or path, or a tcp endpoint without a port, is refused naming it', () => {
  assert.deepEqual(parseEndpoint('tcp://127.0.0.1:8000'), { kind: 'static', endpoint: 'tcp://127.0.0.1:8000' });
  assert.deepEqual(parseEndpoint('tcp://[::1]:8000'), { kind: 'static', endpoint: 'tcp://[::1]:8000' });
  assert.deepEqual(parseEndpoint('ipc:///tmp/zroute.sock'), { kind: 'static', endpoint: 'ipc:///tmp/zroute.sock' });
  assert.deepEqual(parseEndpoint('tcp://routers.example.com:8000'), { kind: 'host', endpoint: 'tcp://routers.example.com:8000', host: 'routers.example.com', port: 8000 });
  assert.deepEqual(parseEndpoint('tcp://router:8000'), { kind: 'host', endpoint: 'tcp://router:8000', host: 'router', port: 8000 });
  assert.deepEqual(parseEndpoint('dns+srv://_zroute._tcp.example.com'), { kind: 'srv', endpoint: 'dns+srv://_zroute._tcp.example.com', name: '_zroute._tcp.example.com' });
  const refused = [
    ['dns+srv://_zroute._tcp.example.com:8000', /takes no port/],
    ['dns+srv://_zroute._tcp.example.com/x', /takes no path/],
    ['dns+srv://_zroute._tcp.example.com/', /takes no path/],
    ['dns+srv://zroute.example.com', /_service\._tcp\.name/],
    ['dns+srv://_zroute._udp.example.com', /_service\._tcp\.name/],
    ['tcp://routers.example.com', /needs a port/],
    ['tcp://127.0.0.1', /needs a port/],
    ['tcp://routers.example.com:', /needs a port/],
    ['tcp://[::1]', /needs a port/],
    ['tcp://routers.example.com:8000/x', /takes no path/],
    ['tcp://routers.example.com:http', /port/],
    ['tcp://routers.example.com:70000', /port/],
    ['tcp://bad name:1', /neither an IP address nor a DNS name/],
  ];
  for (const [endpoint, why] of refused) {
    assert.throws(() => parseEndpoint(endpoint), (err) => err instanceof TypeError && err.message.includes(JSON.stringify(endpoint)) && why.test(err.message), endpoint);
    assert.throws(
      () => new Worker({ id: 'w', connect: ['tcp://127.0.0.1:1', endpoint], handler: () => {}, logger: testLogger }),
      (err) => err.message.includes(JSON.stringify(endpoint)),
      `the worker refuses ${endpoint}`,
    );
  }
  assert.equal(parseNameserver('127.0.0.1:5353'), '127.0.0.1:5353');
  assert.equal(parseNameserver('[::1]:53'), '[::1]:53');
  for (const bad of ['localhost:53', '127.0.0.1:99999', '127.0.0.1:', '[127.0.0.1]:53', '::1]:53']) assert.throws(() => parseNameserver(bad), /invalid nameserver/, bad);
  assert.throws(() => new Worker({ id: 'w', nameserver: 'dns.example:53', handler: () => {}, logger: testLogger }), /invalid nameserver "dns.example:53"/);
  assert.throws(() => new Worker({ id: 'w', resolveInterval: 0, handler: () => {}, logger: testLogger }), /resolveInterval/);
});

test('resolveInterval and nameserver default to ZROUTE_RESOLVE_INTERVAL_MS and ZROUTE_NAMESERVER', () => {
  const saved = { i: process.env.ZROUTE_RESOLVE_INTERVAL_MS, n: process.env.ZROUTE_NAMESERVER };
  try {
    delete process.env.ZROUTE_RESOLVE_INTERVAL_MS;
    delete process.env.ZROUTE_NAMESERVER;
    const plain = new Worker({ id: 'w', handler: () => {}, logger: testLogger });
    assert.equal(plain.resolveInterval, 5000);
    assert.equal(plain.nameserver, undefined);
    process.env.ZROUTE_RESOLVE_INTERVAL_MS = '1234';
    process.env.ZROUTE_NAMESERVER = '127.0.0.1:5353';
    const env = new Worker({ id: 'w', handler: () => {}, logger: testLogger });
    assert.equal(env.resolveInterval, 1234);
    assert.equal(env.nameserver, '127.0.0.1:5353');
    const given = new Worker({ id: 'w', resolveInterval: 99, nameserver: '127.0.0.2:53', handler: () => {}, logger: testLogger });
    assert.equal(given.resolveInterval, 99);
    assert.equal(given.nameserver, '127.0.0.2:53');
    process.env.ZROUTE_RESOLVE_INTERVAL_MS = 'soon';
    assert.throws(() => new Worker({ id: 'w', handler: () => {}, logger: testLogger }), /ZROUTE_RESOLVE_INTERVAL_MS/);
  } finally {
    for (const [k, v] of [['ZROUTE_RESOLVE_INTERVAL_MS', saved.i], ['ZROUTE_NAMESERVER', saved.n]]) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test('the worker\'s own drain stops the lookups and drains every session of a named endpoint', async (t) => {
  const ns = await dnsServer(t);
  const { routers, port } = await routersOnOnePort(t, 2);
  ns.set(NAME, { A: ['127.0.0.1', '127.0.0.2'] });
  const { worker } = startWorker(t, ns, [`tcp://${NAME}:${port}`]);
  const accepted = [];
  for (const r of routers) accepted.push(await r.accept({ timeout: 3000 }));
  await sessionTo(worker, `tcp://127.0.0.1:${port}`);
  await sessionTo(worker, `tcp://127.0.0.2:${port}`);
  let after = 0;
  const done = worker.shutdown({ timeout: 2000 });
  for (const [i, r] of routers.entries()) {
    const g = await r.expectFrame('GOAWAY', () => true, { peer: accepted[i].peer, timeout: 3000 });
    assert.equal(g.statusCode, GOAWAY.OK);
  }
  await deadline(done, 3000, 'shutdown');
  worker.on('lookup', () => after++);
  // shutdown() has awaited the discovery loop itself: no lookup can follow.
  await deadline(Promise.all(worker._loops), 100, 'the discovery loop to have ended');
  assert.equal(after, 0);
  assert.equal(worker.sessions.size, 0);
});

test('a drain during a lookup that never gets an answer cancels it at once', async (t) => {
  const ns = await dnsServer(t);
  ns.silent = true;
  const { worker } = startWorker(t, ns, [`tcp://${NAME}:9`]);
  await deadline(ns.until((q) => q.length >= 1), 3000, 'the query');
  const t0 = performance.now();
  await deadline(worker.shutdown({ timeout: 200 }), 1500, 'shutdown');
  assert.ok(performance.now() - t0 < 1000, 'the resolver (2 s timeout) was cancelled');
});

test('test app: --nameserver and --resolve-interval (and their environment variables), feature discovery', async (t) => {
  const ns = await dnsServer(t);
  const { routers, port } = await routersOnOnePort(t, 1);
  ns.set(NAME, { A: ['127.0.0.1'] });
  const run = async (/** @type {string[]} */ args, /** @type {Record<string, string>} */ env) => {
    const child = spawn(process.execPath, [path.resolve(here, '../bin/testapp.js'), ...args], {
      env: { ...process.env, ZROUTE_CONNECT: '', ZROUTE_NAMESERVER: '', ZROUTE_RESOLVE_INTERVAL_MS: '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = once(child, 'exit');
    defer(t, () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    /** @type {any[]} */
    const logs = [];
    createInterface({ input: child.stderr }).on('line', (l) => {
      try {
        logs.push(JSON.parse(l));
      } catch {
        logs.push({ raw: l });
      }
    });
    const { hello, peer } = await routers[0].accept({ timeout: 5000 });
    const features = Object.fromEntries(hello.attributes).feature.split('\0');
    assert.ok(features.includes('discovery'), `features ${features}`);
    const start = ns.queries.length;
    await deadline(ns.until((q) => q.length >= start + 2), 3000, 'two more lookups');
    const gap = ns.queries[start + 1].at - ns.queries[start].at;
    child.kill('SIGTERM');
    await routers[0].expectFrame('GOAWAY', (f) => f.statusCode === GOAWAY.OK, { peer, timeout: 3000 });
    const [code] = await deadline(exited, 3000, 'the test app to exit');
    assert.equal(code, 0);
    return { logs, gap };
  };
  const a = await run(['w7', '--connect', `tcp://${NAME}:${port}`, '--nameserver', ns.address, '--resolve-interval', '200'], {});
  assert.ok(a.gap < 600, `lookups every 200 ms: ${Math.round(a.gap)} ms`);
  const startA = a.logs.find((l) => l.msg === 'test app starting');
  assert.equal(startA.nameserver, ns.address);
  assert.equal(startA.resolveIntervalMs, 200);
  const b = await run(['w8'], { ZROUTE_CONNECT: `tcp://${NAME}:${port}`, ZROUTE_NAMESERVER: ns.address, ZROUTE_RESOLVE_INTERVAL_MS: '300' });
  const startB = b.logs.find((l) => l.msg === 'test app starting');
  assert.equal(startB.nameserver, ns.address);
  assert.equal(startB.resolveIntervalMs, 300);
});
