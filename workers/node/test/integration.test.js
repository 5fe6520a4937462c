// Integration with the real router: runs only when ZROUTE_ROUTER_BIN names
// the zroute-router binary. The binary is copied to a temporary directory
// first (it may be rebuilt while the test runs). Loopback only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import http2 from 'node:http2';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { deadline } from './helpers/router.js';
import { DnsServer } from './helpers/dns.js';

const BIN = process.env.ZROUTE_ROUTER_BIN;
const here = path.dirname(fileURLToPath(import.meta.url));
const TESTAPP = path.resolve(here, '../bin/testapp.js');
const skip = BIN ? false : 'set ZROUTE_ROUTER_BIN to the zroute-router binary to run';

/** Follows a child's stderr as JSON lines; `waitFor(pred)` resolves with the first matching line. */
class LineWatcher {
  constructor(stream) {
    this.lines = [];
    this.waiters = new Set();
    createInterface({ input: stream }).on('line', (line) => {
      let obj = null;
      try {
        obj = JSON.parse(line);
      } catch {
        obj = { raw: line };
      }
      this.lines.push(obj);
      if (process.env.ZROUTE_TEST_LOG) process.stderr.write(`${line}\n`);
      for (const w of [...this.waiters]) w(obj);
    });
  }

  waitFor(pred, ms, what) {
    const found = this.lines.find(pred);
    if (found) return Promise.resolve(found);
    let w;
    const p = new Promise((resolve) => {
      w = (obj) => {
        if (pred(obj)) resolve(obj);
      };
      this.waiters.add(w);
    });
    return deadline(p, ms, what).finally(() => this.waiters.delete(w));
  }
}

let dir;
let router;
let routerLog;
let app;
let appLog;
let httpAddr;
let workersEndpoint;

/**
 * @param {string} method
 * @param {string} urlPath
 * @param {{body?: Buffer, headers?: Record<string, string | string[]>}} [opts]
 */
function request(method, urlPath, opts = {}) {
  return deadline(
    new Promise((resolve, reject) => {
      const req = http.request(`http://${httpAddr}${urlPath}`, { method, headers: opts.headers }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), trailers: res.trailers }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(opts.body);
    }),
    20000,
    `${method} ${urlPath}`,
  );
}

before(async () => {
  if (!BIN) return;
  dir = mkdtempSync(path.join(tmpdir(), 'zroute-node-it-'));
  const bin = path.join(dir, 'zroute-router');
  copyFileSync(BIN, bin);
  chmodSync(bin, 0o755);
  router = spawn(bin, ['--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--workers', 'tcp://127.0.0.1:*', '--log-format', 'json'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  routerLog = new LineWatcher(router.stderr);
  const [listening, bound] = await Promise.all([
    routerLog.waitFor((l) => l.fields?.message === 'http listening', 15000, 'router http listening'),
    routerLog.waitFor((l) => l.fields?.message === 'workers endpoint bound', 15000, 'router workers endpoint'),
  ]);
  httpAddr = listening.fields.addr;
  workersEndpoint = bound.fields.endpoint;
  app = spawn(process.execPath, [TESTAPP, 'node-it', '--connect', workersEndpoint], { stdio: ['ignore', 'ignore', 'pipe'] });
  appLog = new LineWatcher(app.stderr);
  await appLog.waitFor((l) => l.msg === 'session established', 15000, 'test app registered');
});

after(async () => {
  if (app && app.exitCode === null) {
    app.kill('SIGKILL');
    await once(app, 'exit');
  }
  if (router && router.exitCode === null) {
    router.kill('SIGKILL');
    await once(router, 'exit');
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('real router: GET /hello', { skip }, async () => {
  const r = await request('GET', '/hello');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/plain/);
  assert.equal(r.body.toString(), 'Hello from node-it');
});

test('real router: POST /echo, larger than both windows', { skip }, async () => {
  const body = randomBytes(3 * 65536 + 17);
  const r = await request('POST', '/echo', { body, headers: { 'content-type': 'application/x-test' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'application/x-test');
  assert.ok(r.body.equals(body));
  const empty = await request('POST', '/echo', { body: Buffer.alloc(0) });
  assert.equal(empty.status, 200);
  assert.equal(empty.headers['content-type'], 'application/octet-stream');
  assert.equal(empty.body.length, 0);
});

test('real router: GET and POST /headers', { skip }, async () => {
  const r = await request('GET', '/headers?x=1', { headers: { 'x-multi': ['a', 'b'], 'x-request-id': 'it-1' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'application/json');
  const j = JSON.parse(r.body.toString());
  assert.equal(j.method, 'GET');
  assert.equal(j.path, '/headers?x=1');
  assert.equal(j.version, 'HTTP/1.1');
  assert.equal(j.host, httpAddr);
  assert.equal(j.scheme, 'http');
  assert.deepEqual(j.headers['x-multi'], ['a', 'b']);
  assert.deepEqual(j.headers['x-request-id'], ['it-1']);
  assert.deepEqual(j.headers['x-forwarded-proto'], ['http']);
  assert.ok(j.headers['x-forwarded-for'][0].endsWith('127.0.0.1'));
  const p = await request('POST', '/headers', { body: Buffer.from('ignored') });
  assert.equal(JSON.parse(p.body.toString()).method, 'POST');
});

test('real router: GET /status/{code}', { skip }, async () => {
  for (const code of [200, 204, 304, 404, 418, 503, 599]) {
    const r = await request('GET', `/status/${code}`);
    assert.equal(r.status, code);
    assert.equal(r.body.length, 0);
  }
  assert.equal((await request('GET', '/status/abc')).status, 400);
  assert.equal((await request('GET', '/status/x/204')).status, 400); // A.5: the whole rest of the path
  assert.equal((await request('GET', '/status/199')).status, 400);
});

test('real router: GET /stream', { skip }, async () => {
  const r = await request('GET', '/stream?n=30&size=3000');
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 30 * 3000);
  for (let k = 0; k < 30; k++) assert.equal(r.body[k * 3000 + 2999], 0x61 + (k % 26));
  const big = await request('GET', '/stream?n=4&size=65536');
  assert.equal(big.body.length, 4 * 65536);
  const none = await request('GET', '/stream?n=0');
  assert.equal(none.body.length, 0);
  const dflt = await request('GET', '/stream');
  assert.equal(dflt.body.length, 10 * 1024);
  assert.equal((await request('GET', '/stream?size=0')).status, 400);
});

test('real router: GET /slow, and a client that goes away cancels it', { skip }, async () => {
  const r = await request('GET', '/slow?ms=50');
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'slow');
  assert.equal((await request('GET', '/slow')).status, 400);
  // A client that gives up: the router sends RST_STREAM(CANCEL), the app abandons the wait.
  const req = http.request(`http://${httpAddr}/slow?ms=60000`, { headers: { 'x-request-id': 'it-cancel' } });
  req.on('error', () => {});
  req.end();
  await appLog.waitFor((l) => l.msg === 'request' && l.requestId === 'it-cancel', 10000, 'slow request at the app');
  req.destroy();
  await appLog.waitFor((l) => l.msg === 'request cancelled' && l.requestId === 'it-cancel', 10000, 'cancel at the app');
});

test('real router: GET /large', { skip }, async () => {
  const r = await request('GET', '/large');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], '1048576');
  assert.equal(r.body.length, 1048576);
  for (let i = 0; i < r.body.length; i += 4093) assert.equal(r.body[i], i % 256);
  const small = await request('GET', '/large?bytes=1000');
  assert.equal(small.body.length, 1000);
  const zero = await request('GET', '/large?bytes=0');
  assert.equal(zero.body.length, 0);
});

test('real router: GET /trailers (HTTP/2, where trailers reach the client)', { skip }, async () => {
  const client = http2.connect(`http://${httpAddr}`);
  try {
    const result = await deadline(
      new Promise((resolve, reject) => {
        const s = client.request({ ':path': '/trailers', te: 'trailers' });
        const out = { headers: null, trailers: null, body: '' };
        s.on('response', (h) => (out.headers = h));
        s.on('trailers', (h) => (out.trailers = h));
        s.setEncoding('utf8');
        s.on('data', (c) => (out.body += c));
        s.on('end', () => resolve(out));
        s.on('error', reject);
        s.end();
      }),
      10000,
      'GET /trailers over h2',
    );
    assert.equal(result.headers[':status'], 200);
    assert.equal(result.body, 'ok');
    assert.equal(result.trailers['x-trailer'], 'done');
  } finally {
    client.close();
  }
});

test('real router: POST /drain-body', { skip }, async () => {
  const r = await request('POST', '/drain-body', { body: randomBytes(300000) });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), '300000');
  const empty = await request('POST', '/drain-body');
  assert.equal(empty.body.toString(), '0');
});

test('real router: any other request is 404 "not found"', { skip }, async () => {
  for (const [m, p] of [['GET', '/nope'], ['POST', '/hello'], ['DELETE', '/echo'], ['GET', '/HELLO']]) {
    const r = await request(m, p);
    assert.equal(r.status, 404, `${m} ${p}`);
    assert.equal(r.body.toString(), 'not found');
  }
});

test('real router: a named endpoint (tcp://name:port, --nameserver) registers, serves, and drains when its address leaves the answer', { skip }, async (t) => {
  const ns = await DnsServer.start();
  t.after(() => ns.close());
  const port = workersEndpoint.split(':').pop();
  ns.set('routers.test', { A: ['127.0.0.1'] });
  const named = spawn(
    process.execPath,
    [TESTAPP, 'node-named', '--connect', `tcp://routers.test:${port}`, '--nameserver', ns.address, '--resolve-interval', '200', '--route', 'named.example'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  t.after(() => {
    if (named.exitCode === null) named.kill('SIGKILL');
  });
  const log = new LineWatcher(named.stderr);
  await log.waitFor((l) => l.msg === 'session established' && l.endpoint === `tcp://127.0.0.1:${port}`, 10000, 'the named app registered');
  const r = await request('GET', '/hello', { headers: { host: 'named.example' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'Hello from node-named');
  // The address leaves the answer: the worker drains that session and does not register again.
  ns.set('routers.test', { A: ['127.0.0.9'] });
  await log.waitFor((l) => l.msg === 'draining' && l.endpoint === `tcp://127.0.0.1:${port}`, 5000, 'the session to drain');
  await log.waitFor((l) => l.msg === 'session closed' && l.reason === 'drained', 5000, 'the drained session to close');
  ns.set('routers.test', { A: ['127.0.0.1'] });
  await log.waitFor((l) => l.msg === 'session established' && l !== log.lines.find((x) => x.msg === 'session established'), 5000, 'a new registration once it is back');
  const exited = once(named, 'exit');
  named.kill('SIGTERM');
  const [code] = await deadline(exited, 10000, 'the named app to exit');
  assert.equal(code, 0);
});

test('real router: SIGTERM drains the test app, which exits 0', { skip }, async () => {
  const exited = once(app, 'exit');
  app.kill('SIGTERM');
  const [code] = await deadline(exited, 15000, 'test app exit');
  assert.equal(code, 0);
  assert.ok(appLog.lines.some((l) => l.msg === 'draining'));
  // The router now has no worker: 503.
  const r = await request('GET', '/hello');
  assert.equal(r.status, 503);
});
