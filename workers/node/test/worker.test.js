// Configuration checks of the worker: ids and routes (§5.10, §12.1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidRoute, isValidWorkerId, Worker, silentLogger } from '../src/index.js';
import { parseQuery } from '../src/testapp.js';

test('route grammar of §12.1', () => {
  for (const r of ['/', '/api', '/api/', 'example.com', 'example.com/', '*.example.com/api', 'api.example.com/api/v2/', 'a-b.c0', '/~x!"$%&\'()*+,-./:;<=>@[\\]^_`{|}']) {
    assert.ok(isValidRoute(r), r);
  }
  for (const r of ['', 'Example.com', 'example.com:80', '/a#b', '/a?b', '/a b', '*.', '*example.com', 'a..b', '*./x', 'http://x', `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}ab`]) {
    assert.ok(!isValidRoute(r), r);
  }
});

test('worker id of §5.10', () => {
  assert.ok(isValidWorkerId('w1'));
  assert.ok(isValidWorkerId('x'.repeat(128)));
  assert.ok(!isValidWorkerId(''));
  assert.ok(!isValidWorkerId('x'.repeat(129)));
  assert.ok(!isValidWorkerId('a b'));
  assert.ok(!isValidWorkerId('caf\u00e9'));
  assert.throws(() => new Worker({ id: 'a b', handler: () => {}, logger: silentLogger }), /invalid worker id/);
  assert.throws(() => new Worker({ id: 'w', routes: ['/a?b'], handler: () => {}, logger: silentLogger }), /invalid route/);
  assert.throws(() => new Worker({ id: 'w', capacity: 0, handler: () => {}, logger: silentLogger }), /capacity/);
  assert.throws(() => new Worker({ id: 'w', labels: { Zone: 'x' }, handler: () => {}, logger: silentLogger }), /invalid label/);
  assert.throws(() => new Worker({ id: 'w', labels: { route: 'x' }, handler: () => {}, logger: silentLogger }), /reserved/);
});

test('HELLO attributes: id first, routes and features NUL-joined and omitted when empty', () => {
  const w = new Worker({ id: 'w', handler: () => {}, logger: silentLogger, connect: ['tcp://127.0.0.1:1'] });
  assert.deepEqual(w.attributes, [['id', 'w']]);
  const w2 = new Worker({ id: 'w', routes: ['/a', 'b.c'], features: ['trailers'], labels: { pid: '1' }, handler: () => {}, logger: silentLogger });
  assert.deepEqual(w2.attributes, [['id', 'w'], ['route', '/a\0b.c'], ['feature', 'trailers'], ['pid', '1']]);
});

test('endpoints default to ZROUTE_CONNECT, else tcp://127.0.0.1:8000', () => {
  const saved = process.env.ZROUTE_CONNECT;
  try {
    delete process.env.ZROUTE_CONNECT;
    assert.deepEqual(new Worker({ id: 'w', handler: () => {}, logger: silentLogger }).endpoints, ['tcp://127.0.0.1:8000']);
    process.env.ZROUTE_CONNECT = 'tcp://127.0.0.1:1,tcp://127.0.0.1:2';
    assert.deepEqual(new Worker({ id: 'w', handler: () => {}, logger: silentLogger }).endpoints, ['tcp://127.0.0.1:1', 'tcp://127.0.0.1:2']);
  } finally {
    if (saved === undefined) delete process.env.ZROUTE_CONNECT;
    else process.env.ZROUTE_CONNECT = saved;
  }
});

test('test app query parsing (Appendix A.1)', () => {
  assert.deepEqual([...parseQuery('n=3&size=10&n=4&&flag&x=')], [['n', '3'], ['size', '10'], ['flag', ''], ['x', '']]);
  assert.deepEqual([...parseQuery('')], []);
});
