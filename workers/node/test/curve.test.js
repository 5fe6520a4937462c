// CURVE against the real router (PROTOCOL.md §14.1): runs only when
// ZROUTE_ROUTER_BIN names the zroute-router binary. Keys come from
// `zroute-router keygen`; a listed worker registers and serves, an unlisted
// one is refused by the router and says so. Loopback only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { deadline } from './helpers/router.js';
import { loadCurve, readServerKey } from '../src/curve.js';

const BIN = process.env.ZROUTE_ROUTER_BIN;
const here = path.dirname(fileURLToPath(import.meta.url));
const TESTAPP = path.resolve(here, '../bin/testapp.js');
const skip = BIN ? false : 'set ZROUTE_ROUTER_BIN to the zroute-router binary to run';

/** JSON lines of a child's stderr; `waitFor(pred)` resolves with the first match. */
function watch(stream) {
  const lines = [];
  const waiters = new Set();
  createInterface({ input: stream }).on('line', (line) => {
    let obj;
    try {
      obj = JSON.parse(line);
    } catch {
      obj = { raw: line };
    }
    lines.push(obj);
    if (process.env.ZROUTE_TEST_LOG) process.stderr.write(`${line}\n`);
    for (const w of [...waiters]) w(obj);
  });
  return {
    waitFor(pred, ms, what) {
      const found = lines.find(pred);
      if (found) return Promise.resolve(found);
      let w;
      const p = new Promise((resolve) => {
        w = (obj) => pred(obj) && resolve(obj);
        waiters.add(w);
      });
      return deadline(p, ms, what).finally(() => waiters.delete(w));
    },
  };
}

let dir;
let bin;
const children = [];

function keygen(name) {
  const out = execFileSync(bin, ['keygen', '--out', path.join(dir, name)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }).trim();
  return { key: path.join(dir, `${name}.key`), pub: path.join(dir, `${name}.pub`), public: out };
}

function start(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  return { child, log: watch(child.stderr) };
}

before(() => {
  if (!BIN) return;
  dir = mkdtempSync(path.join(tmpdir(), 'zroute-node-curve-'));
  bin = path.join(dir, 'zroute-router');
  copyFileSync(BIN, bin);
  chmodSync(bin, 0o755);
});

after(async () => {
  for (const child of children) {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('keys written by keygen load, and malformed keys are refused', { skip }, () => {
  const router = keygen('parse-router');
  const worker = keygen('parse-worker');
  const curve = loadCurve(router.pub, worker.key);
  assert.equal(curve.serverKey, router.public);
  assert.equal(curve.publicKey, worker.public);
  assert.equal(curve.secretKey.length, 40);
  assert.equal(readServerKey(router.public), router.public);
  assert.equal(readServerKey(router.key), router.public);
  const bad = path.join(dir, 'bad.key');
  writeFileSync(bad, 'public-key = "short"\nsecret-key = "short"\n');
  assert.throws(() => loadCurve(router.pub, bad), /Z85/);
  assert.throws(() => readServerKey(path.join(dir, 'missing.pub')), /ENOENT/);
});

test('real router with CURVE: a listed key serves, an unlisted one is refused', { skip }, async () => {
  const routerKeys = keygen('router');
  const good = keygen('good');
  const stranger = keygen('stranger');
  const allow = path.join(dir, 'workers.allow');
  writeFileSync(allow, readFileSync(good.pub));
  const router = start(bin, [
    '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--workers', 'tcp://127.0.0.1:*', '--log-format', 'json',
    '--curve-key', routerKeys.key, '--curve-allow', allow,
  ]);
  const [listening, bound] = await Promise.all([
    router.log.waitFor((l) => l.fields?.message === 'http listening', 15000, 'router http listening'),
    router.log.waitFor((l) => l.fields?.message === 'workers endpoint bound', 15000, 'router workers endpoint'),
  ]);
  const endpoint = bound.fields.endpoint;
  const curveArgs = (w) => ['--curve-server-key', routerKeys.pub, '--curve-key', w.key];

  const app = start(process.execPath, [TESTAPP, 'node-curve', '--connect', endpoint, ...curveArgs(good)]);
  await app.log.waitFor((l) => l.msg === 'session established', 15000, 'listed worker registered');
  const body = await deadline(
    new Promise((resolve, reject) => {
      http
        .get(`http://${listening.fields.addr}/hello`, (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
        })
        .on('error', reject);
    }),
    20000,
    'GET /hello',
  );
  assert.deepEqual(body, { status: 200, text: 'Hello from node-curve' });

  const refused = start(process.execPath, [TESTAPP, 'node-stranger', '--connect', endpoint, ...curveArgs(stranger)]);
  await router.log.waitFor(
    (l) => l.fields?.message?.includes('worker refused') && l.fields?.key === stranger.public,
    15000,
    'the router to refuse the unlisted key',
  );
  const failed = await refused.log.waitFor(
    (l) => l.msg === 'handshake failed' && String(l.reason).includes('allowlist'),
    15000,
    'the unlisted worker to give up its socket',
  );
  assert.match(failed.reason, new RegExp(stranger.public.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
});
