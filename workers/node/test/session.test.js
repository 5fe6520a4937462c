// Session scenarios against a mini router written from the spec (test/helpers/router.js).
// No sleeps: every wait is for an event, with a deadline.
import { test as nodeTest } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { MiniRouter, syn, data, deadline } from './helpers/router.js';
import { setup, deferred, testLogger } from './helpers/setup.js';
import { Worker, testApp, FLAG_FIN, RST, GOAWAY, SETTING, encodeFrame } from '../src/index.js';

/** Every scenario has a hard deadline, so that a hang fails instead of blocking the run. */
const test = (name, fn) => nodeTest(name, { timeout: 20000 }, fn);

const statusOf = (f) => Object.fromEntries(f.headers)[':status'];

test('handshake: HELLO alone, with id, capacity, window, routes, features, labels; then WELCOME', async (t) => {
  const { hello, rec, worker } = await setup(t, {
    worker: { routes: ['/api', 'example.com'], capacity: 7, initialWindowSize: 40000, labels: { zone: 'test' } },
  });
  assert.equal(rec.parts, 1, 'HELLO is alone in its message');
  assert.equal(hello.version, 1);
  assert.equal(hello.flags, 0);
  assert.equal(hello.maxConcurrentStreams, 7);
  assert.equal(hello.initialWindowSize, 40000);
  assert.deepEqual(hello.attributes, [
    ['id', 'w1'],
    ['route', '/api\0example.com'],
    ['feature', 'trailers'],
    ['zone', 'test'],
  ]);
  const [session] = await deadline(once(worker, 'established'), 2000, 'established');
  assert.equal(session.state, 'established');
  assert.equal(session.welcomeAttributes.session, 's1');
});

test('handshake waits for the connection before sending HELLO', async (t) => {
  // A free port with nobody listening yet.
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const port = srv.address().port;
  await new Promise((r) => srv.close(r));
  const endpoint = `tcp://127.0.0.1:${port}`;
  const worker = new Worker({ id: 'w1', connect: [endpoint], handler: testApp('w1'), logger: testLogger, linger: 100 });
  worker.start();
  const [session] = worker.sessions;
  // No router: the socket is not writable, the worker stays in state connecting.
  assert.equal(session.state, 'connecting');
  const router = await MiniRouter.start({ endpoint });
  t.after(async () => {
    await worker.shutdown({ timeout: 200 });
    router.close();
  });
  const { hello } = await router.accept({ timeout: 10000 });
  assert.equal(hello.attributes[0][1], 'w1');
  await deadline(once(worker, 'established'), 2000, 'established');
  assert.equal(worker.sessions.size, 1, 'one socket, one session');
});

test('PING: the router\'s odd PINGs are echoed; the worker pings with even ids and ignores echoes', async (t) => {
  const { router, peerId, peer, worker } = await setup(t, {
    router: { autoPong: false },
    welcome: { interval: 100, liveness: 100 },
  });
  await router.send(peerId, { type: 'PING', flags: 0, id: 1 });
  await router.expectFrame('PING', (f) => f.id === 1, { peer });
  const p2 = await router.expect((x) => x.frame?.type === 'PING' && x.frame.id === 2, { what: 'PING(2)' });
  const p4 = await router.expect((x) => x.frame?.type === 'PING' && x.frame.id === 4, { what: 'PING(4)' });
  assert.ok(p4.at - p2.at >= 90, `PINGs about one interval apart (${p4.at - p2.at} ms)`);
  const session = [...worker.sessions][0];
  const rtt = once(session, 'rtt');
  const mark = router.frames.length;
  await router.send(peerId, { type: 'PING', flags: 0, id: 4 }); // the echo of the worker's PING(4)
  await deadline(rtt, 2000, 'RTT measurement');
  await router.send(peerId, { type: 'PING', flags: 0, id: 7 });
  await router.expectFrame('PING', (f) => f.id === 7);
  await router.send(peerId, { type: 'PING', flags: 0, id: 1000 }); // own parity, never sent: ignored
  await router.send(peerId, { type: 'PING', flags: 0, id: 9 });
  await router.expectFrame('PING', (f) => f.id === 9);
  const after = router.framesOf(peer, mark).filter((x) => x.frame?.type === 'PING').map((x) => x.frame.id);
  assert.ok(!after.includes(4) && !after.includes(1000), `no answer to own-parity PINGs: ${after}`);
  assert.ok(after.every((id) => id % 2 === 0 || id === 7 || id === 9));
});

test('a silent router: the session is dead after I x L, the worker registers again on a new socket', async (t) => {
  const { router, peer } = await setup(t, { router: { autoPong: false }, welcome: { interval: 50, liveness: 2 } });
  const second = await router.accept({ timeout: 3000 });
  assert.notEqual(second.peer, peer, 'a new socket has a new routing id');
  // The dead session sent PINGs while it waited.
  assert.ok(router.frames.some((x) => x.peer === peer && x.frame?.type === 'PING'));
});

test('GET /hello: SYN_REPLY 200 text/plain, DATA "Hello from w1" with FIN', async (t) => {
  const { router, peerId } = await setup(t);
  await router.send(peerId, syn(1, 'GET', '/hello'));
  const r = await router.response(peerId, 1);
  assert.equal(r.status, '200');
  assert.equal(r.headers[':version'], 'HTTP/1.1');
  assert.equal(r.headers['content-type'], 'text/plain');
  assert.equal(r.body.toString(), 'Hello from w1');
  assert.equal(r.reply.flags & FLAG_FIN, 0);
});

test('POST /echo larger than both windows streams under flow control both ways', async (t) => {
  const { router, peerId, peer } = await setup(t, { worker: { sessionWindow: 65536, initialWindowSize: 65536 } });
  const body = randomBytes(200 * 1024 + 123);
  await router.send(peerId, syn(1, 'POST', '/echo', { fin: false, headers: [['content-type', 'application/x-test'], ['content-length', String(body.length)]] }));
  // The router's send windows (request direction) and receive windows (response direction).
  let reqStream = 65536;
  let reqSession = 65536;
  let respStream = 65536;
  let respSession = 65536;
  let off = 0;
  let replyAt = -1;
  const echoed = [];
  let done = false;
  const pump = async () => {
    while (off < body.length && Math.min(reqStream, reqSession) > 0) {
      const n = Math.min(16384, reqStream, reqSession, body.length - off);
      const last = off + n === body.length;
      await router.send(peerId, data(1, body.subarray(off, off + n), last));
      off += n;
      reqStream -= n;
      reqSession -= n;
    }
  };
  await pump();
  assert.ok(off < body.length, 'the request body does not fit the windows');
  while (!done) {
    const r = await router.expect((x) => x.peer === peer && x.frame && (x.frame.type === 'WINDOW_UPDATE' || x.frame.streamId === 1), {
      what: 'echo traffic',
    });
    const f = r.frame;
    if (f.type === 'WINDOW_UPDATE') {
      if (f.streamId === 0) reqSession += f.deltaWindowSize;
      else reqStream += f.deltaWindowSize;
      assert.ok(reqStream <= 65536 && reqSession <= 65536, 'credit never exceeds what was sent');
      await pump();
    } else if (f.type === 'SYN_REPLY') {
      replyAt = off;
      assert.equal(statusOf(f), '200');
      assert.equal(Object.fromEntries(f.headers)['content-type'], 'application/x-test');
    } else if (f.type === 'DATA') {
      assert.ok(f.data.length <= respStream && f.data.length <= respSession, 'the worker respects the router\'s windows');
      respStream -= f.data.length;
      respSession -= f.data.length;
      echoed.push(f.data);
      // Consume and credit at once.
      if (f.data.length > 0 && !(f.flags & FLAG_FIN)) {
        await router.send(
          peerId,
          { type: 'WINDOW_UPDATE', flags: 0, streamId: 1, deltaWindowSize: f.data.length },
          { type: 'WINDOW_UPDATE', flags: 0, streamId: 0, deltaWindowSize: f.data.length },
        );
        respStream += f.data.length;
        respSession += f.data.length;
      }
      done = (f.flags & FLAG_FIN) !== 0;
    } else {
      assert.fail(`unexpected ${f.type}`);
    }
  }
  assert.ok(replyAt >= 0 && replyAt < body.length, 'SYN_REPLY before the end of the request');
  assert.ok(Buffer.concat(echoed).equals(body), 'echo is byte for byte');
});

test('RST_STREAM(CANCEL) fires the handler\'s abort signal; nothing more is sent on the stream', async (t) => {
  const aborted = deferred();
  const started = deferred();
  const handler = async (req, res) => {
    if (req.url !== '/wait') return testApp('w1')(req, res);
    req.signal.addEventListener('abort', () => aborted.resolve(req.signal.reason));
    res.on('close', () => {});
    started.resolve();
    await once(req.signal, 'abort');
    res.end('too late'); // must not reach the wire
  };
  const { router, peerId, peer } = await setup(t, { handler });
  await router.send(peerId, syn(1, 'GET', '/wait'));
  await deadline(started.promise, 2000, 'handler start');
  const mark = router.frames.length;
  await router.send(peerId, { type: 'RST_STREAM', flags: 0, streamId: 1, statusCode: RST.CANCEL });
  const reason = await deadline(aborted.promise, 2000, 'abort signal');
  assert.equal(reason.status, RST.CANCEL);
  await router.send(peerId, syn(3, 'GET', '/hello'));
  const r = await router.response(peerId, 3);
  assert.equal(r.body.toString(), 'Hello from w1');
  const onStream1 = router.framesOf(peer, mark).filter((x) => x.frame && x.frame.streamId === 1);
  assert.deepEqual(onStream1, [], 'no frame for the reset stream, and no RST in answer to RST');
});

test('capacity: a SYN_STREAM beyond it is refused with REFUSED_STREAM; SETTINGS lowers it', async (t) => {
  const gate = deferred();
  const handler = async (req, res) => {
    if (req.url === '/gate') await gate.promise;
    return testApp('w1')(req, res);
  };
  const { router, peerId, worker } = await setup(t, { handler, worker: { capacity: 1 } });
  await router.send(peerId, syn(1, 'GET', '/gate'));
  await router.send(peerId, syn(3, 'GET', '/hello'));
  const rst = await router.expectFrame('RST_STREAM', (f) => f.streamId === 3);
  assert.equal(rst.statusCode, RST.REFUSED_STREAM);
  gate.resolve();
  const r1 = await router.response(peerId, 1);
  assert.equal(r1.status, '404');
  await router.send(peerId, syn(5, 'GET', '/hello'));
  assert.equal((await router.response(peerId, 5)).status, '200');
  worker.setCapacity(0);
  const settings = await router.expectFrame('SETTINGS');
  assert.deepEqual(settings.entries, [{ flags: 0, id: SETTING.MAX_CONCURRENT_STREAMS, value: 0 }]);
  await router.send(peerId, syn(7, 'GET', '/hello'));
  const rst7 = await router.expectFrame('RST_STREAM', (f) => f.streamId === 7);
  assert.equal(rst7.statusCode, RST.REFUSED_STREAM);
});

test('drain: GOAWAY(last-good, OK), later streams refused, active streams complete, then the socket closes', async (t) => {
  const gate = deferred();
  const started = deferred();
  const handler = async (req, res) => {
    if (req.url === '/gate') {
      started.resolve();
      await gate.promise;
      return res.end('done');
    }
    return testApp('w1')(req, res);
  };
  const { router, peerId, worker } = await setup(t, { handler });
  await router.send(peerId, syn(1, 'GET', '/hello'));
  await router.response(peerId, 1);
  await router.send(peerId, syn(3, 'GET', '/gate'));
  await deadline(started.promise, 2000, 'stream 3 active');
  const session = [...worker.sessions][0];
  const closed = once(worker, 'closed');
  const shutdown = worker.shutdown({ timeout: 5000 });
  const goaway = await router.expectFrame('GOAWAY');
  assert.deepEqual([goaway.lastGoodStreamId, goaway.statusCode], [3, GOAWAY.OK]);
  await router.send(peerId, syn(5, 'GET', '/hello'));
  const rst = await router.expectFrame('RST_STREAM', (f) => f.streamId === 5);
  assert.equal(rst.statusCode, RST.REFUSED_STREAM);
  // Heartbeats and the active stream go on.
  gate.resolve();
  const r = await router.response(peerId, 3);
  assert.equal(r.body.toString(), 'done');
  const [closedSession, reason] = await deadline(closed, 3000, 'session closed');
  assert.equal(closedSession, session);
  assert.equal(reason, 'drained');
  await deadline(shutdown, 3000, 'shutdown');
});

test('GOAWAY(UNKNOWN_SESSION): streams abandoned without RST, re-registration at once on a new socket', async (t) => {
  const aborted = deferred();
  const handler = async (req, res) => {
    if (req.url !== '/wait') return testApp('w1')(req, res);
    req.signal.addEventListener('abort', () => aborted.resolve());
    await once(req.signal, 'abort');
  };
  const { router, peerId, peer } = await setup(t, { handler, worker: { backoffInitial: 60000 } });
  await router.send(peerId, syn(1, 'GET', '/wait'));
  await router.send(peerId, { type: 'GOAWAY', flags: 0, lastGoodStreamId: 0, statusCode: GOAWAY.UNKNOWN_SESSION });
  await deadline(aborted.promise, 2000, 'stream abandoned');
  const second = await router.accept({ timeout: 3000 });
  assert.notEqual(second.peer, peer);
  assert.ok(!router.frames.some((x) => x.peer === peer && (x.frame?.type === 'RST_STREAM' || x.frame?.type === 'GOAWAY')));
  // The new session works.
  await router.send(second.peerId, syn(1, 'GET', '/hello'));
  assert.equal((await router.response(second.peerId, 1)).status, '200');
});

test('router GOAWAY(0, OK): the worker finishes its streams, closes, and registers again', async (t) => {
  const gate = deferred();
  const handler = async (req, res) => {
    await gate.promise;
    res.end('finished');
  };
  const { router, peerId, peer, worker } = await setup(t, { handler });
  await router.send(peerId, syn(1, 'GET', '/x'));
  await router.send(peerId, { type: 'GOAWAY', flags: 0, lastGoodStreamId: 0, statusCode: GOAWAY.OK });
  // A new registration may start at once, while the old session drains.
  const second = await router.accept({ timeout: 3000 });
  assert.notEqual(second.peer, peer);
  const closed = once(worker, 'closed');
  gate.resolve();
  const r = await router.response(peerId, 1);
  assert.equal(r.body.toString(), 'finished');
  const [s] = await deadline(closed, 2000, 'old session closed');
  assert.equal(s.state, 'closed');
  assert.ok(!router.frames.some((x) => x.peer === peer && x.frame?.type === 'GOAWAY'), 'no GOAWAY in answer to GOAWAY');
});

test('a router shutting down (HELLO answered GOAWAY(0, OK)) is asked again after the heartbeat interval, not the backoff', async (t) => {
  // Rule 2 would wait 10 minutes: every HELLO below comes after the last WELCOME's 50 ms (§9.4 rule 4).
  const { router, peerId, peer } = await setup(t, { worker: { backoffInitial: 600000 }, welcome: { interval: 50 } });
  await router.send(peerId, { type: 'GOAWAY', flags: 0, lastGoodStreamId: 0, statusCode: GOAWAY.OK });
  const peers = new Set([peer]);
  for (let i = 0; i < 3; i++) {
    const attempt = await router.accept({ answer: false, timeout: 5000 });
    peers.add(attempt.peer);
    await router.send(attempt.peerId, { type: 'GOAWAY', flags: 0, lastGoodStreamId: 0, statusCode: GOAWAY.OK });
  }
  // The replacement router welcomes the next attempt.
  const last = await router.accept({ timeout: 5000 });
  peers.add(last.peer);
  assert.equal(peers.size, 5, 'every attempt on a new socket');
});

test('failed handshakes back off 1x, 2x, 4x the initial delay on new sockets', async (t) => {
  const router = await MiniRouter.start();
  const worker = new Worker({
    id: 'w1',
    connect: [router.endpoint],
    handler: testApp('w1'),
    logger: testLogger,
    linger: 100,
    backoffInitial: 150,
    jitter: false,
    handshakeTimeout: 200,
  }).start();
  t.after(async () => {
    await worker.shutdown({ timeout: 100 });
    router.close();
  });
  const refuse = (p) =>
    router.send(p.peerId, { type: 'GOAWAY', flags: 0, lastGoodStreamId: 0, statusCode: GOAWAY.REFUSED });
  const a = await router.accept({ answer: false });
  await refuse(a);
  const b = await router.accept({ answer: false });
  await refuse(b);
  const c = await router.accept({ answer: false }); // this one times out (no answer)
  const d = await router.accept({ answer: false, timeout: 5000 });
  // An invalid WELCOME (liveness 0) is a failed handshake too, answered with GOAWAY(0, PROTOCOL_ERROR).
  await router.send(d.peerId, {
    type: 'WELCOME', flags: 0, version: 1, heartbeatIntervalMs: 1000, heartbeatLiveness: 0, initialWindowSize: 65536, attributes: [],
  });
  const goaway = await router.expectFrame('GOAWAY', () => true, { peer: d.peer });
  assert.equal(goaway.statusCode, GOAWAY.PROTOCOL_ERROR);
  const e = await router.accept({ timeout: 5000 });
  const peers = new Set([a.peer, b.peer, c.peer, d.peer, e.peer]);
  assert.equal(peers.size, 5, 'every attempt on a new socket');
  const gap1 = b.rec.at - a.rec.at;
  const gap2 = c.rec.at - b.rec.at;
  const gap3 = d.rec.at - c.rec.at; // handshake timeout (200) + 600
  const gap4 = e.rec.at - d.rec.at;
  assert.ok(gap1 >= 140 && gap1 < 1000, `first delay ${gap1}`);
  assert.ok(gap2 >= 290 && gap2 < 1500, `second delay ${gap2}`);
  assert.ok(gap3 >= 200 + 590, `third delay ${gap3}`);
  assert.ok(gap4 >= 1190, `fourth delay ${gap4}`);
  // A valid WELCOME resets the backoff: a lost session registers again at once.
  await deadline(once(worker, 'established'), 2000, 'established');
  await router.send(e.peerId, { type: 'GOAWAY', flags: 0, lastGoodStreamId: 0, statusCode: GOAWAY.UNKNOWN_SESSION });
  const f = await router.accept({ timeout: 3000 });
  assert.ok(f.rec.at - e.rec.at < 1000);
});

test('session errors: GOAWAY(last-good, PROTOCOL_ERROR) and a new registration', async (t) => {
  const { router, peerId, peer } = await setup(t);
  await router.send(peerId, syn(1, 'GET', '/hello'));
  await router.response(peerId, 1);
  await router.send(peerId, syn(1, 'GET', '/hello')); // stream id not above the highest: session error
  const goaway = await router.expectFrame('GOAWAY', () => true, { peer });
  assert.deepEqual([goaway.lastGoodStreamId, goaway.statusCode], [1, GOAWAY.PROTOCOL_ERROR]);
  const second = await router.accept({ timeout: 3000 });
  // Frames of other kinds: a control frame of version 2, a HELLO, a second WELCOME.
  await router.send(second.peerId, Buffer.from('800200060000000400000001', 'hex'));
  const g2 = await router.expectFrame('GOAWAY', () => true, { peer: second.peer });
  assert.equal(g2.statusCode, GOAWAY.UNSUPPORTED_VERSION);
  const third = await router.accept({ timeout: 3000 });
  await router.send(third.peerId, {
    type: 'WELCOME', flags: 0, version: 1, heartbeatIntervalMs: 1000, heartbeatLiveness: 3, initialWindowSize: 65536, attributes: [],
  });
  const g3 = await router.expectFrame('GOAWAY', () => true, { peer: third.peer });
  assert.equal(g3.statusCode, GOAWAY.PROTOCOL_ERROR);
});

test('unknown frames and zero-length parts are ignored; unknown frames count as liveness', async (t) => {
  const { router, peerId } = await setup(t);
  await router.send(peerId, Buffer.alloc(0), Buffer.from('8003123400000002abcd', 'hex'), encodeFrame(syn(1, 'GET', '/hello')));
  const r = await router.response(peerId, 1);
  assert.equal(r.status, '200');
});

test('stream errors on request frames', async (t) => {
  const { router, peerId, peer } = await setup(t, { worker: { initialWindowSize: 1000 } });
  const rstOf = async (id) => (await router.expectFrame('RST_STREAM', (f) => f.streamId === id, { peer })).statusCode;
  // Missing :host.
  await router.send(peerId, { ...syn(1, 'GET', '/hello'), headers: syn(1, 'GET', '/hello').headers.filter(([n]) => n !== ':host') });
  assert.equal(await rstOf(1), RST.PROTOCOL_ERROR);
  // Forbidden hop-by-hop field.
  await router.send(peerId, syn(3, 'GET', '/hello', { headers: [['connection', 'close']] }));
  assert.equal(await rstOf(3), RST.PROTOCOL_ERROR);
  // Malformed block (uppercase name): the stream is opened and reset.
  await router.send(peerId, encodeFrame(syn(5, 'GET', '/hello', { headers: [['X-Foo', 'bar']] })));
  assert.equal(await rstOf(5), RST.PROTOCOL_ERROR);
  // DATA on a never-opened stream.
  await router.send(peerId, data(99, 'x'));
  assert.equal(await rstOf(99), RST.INVALID_STREAM);
  // DATA beyond the stream window (1000).
  await router.send(peerId, syn(7, 'POST', '/drain-body', { fin: false }), data(7, Buffer.alloc(1001)));
  assert.equal(await rstOf(7), RST.FLOW_CONTROL_ERROR);
  // DATA on a closed stream is ignored: no RST. Then content-length mismatch.
  await router.send(peerId, data(7, 'late'), syn(9, 'POST', '/drain-body', { fin: false, headers: [['content-length', '3']] }), data(9, 'abcd'));
  assert.equal(await rstOf(9), RST.PROTOCOL_ERROR);
  // DATA after FIN.
  await router.send(peerId, syn(11, 'POST', '/slow?ms=10000', { fin: false }), data(11, 'a', true), data(11, 'b'));
  assert.equal(await rstOf(11), RST.STREAM_ALREADY_CLOSED);
  // WINDOW_UPDATE with delta 0 on an active stream; on a never-opened one it is ignored.
  await router.send(peerId, syn(13, 'GET', '/slow?ms=10000'));
  await router.send(peerId, Buffer.from('80030009000000080000006500000000', 'hex')); // stream 101: ignored
  await router.send(peerId, Buffer.from('80030009000000080000000d00000000', 'hex'));
  assert.equal(await rstOf(13), RST.PROTOCOL_ERROR);
  // HEADERS without FIN.
  await router.send(peerId, syn(15, 'POST', '/drain-body', { fin: false }), { type: 'HEADERS', flags: 0, streamId: 15, headers: [['x', 'y']] });
  assert.equal(await rstOf(15), RST.PROTOCOL_ERROR);
  // A SYN_REPLY from the router.
  await router.send(peerId, syn(17, 'GET', '/slow?ms=10000'), { type: 'SYN_REPLY', flags: 0, streamId: 17, headers: [[':status', '200']] });
  assert.equal(await rstOf(17), RST.PROTOCOL_ERROR);
  assert.ok(!router.frames.some((x) => x.peer === peer && x.frame?.type === 'RST_STREAM' && [7, 101].includes(x.frame.streamId) && x.frame.statusCode !== RST.FLOW_CONTROL_ERROR));
  // The session is still fine.
  await router.send(peerId, syn(19, 'GET', '/hello'));
  assert.equal((await router.response(peerId, 19)).status, '200');
});

test('flow-control session errors: DATA beyond the session window, SETTINGS above 2^31-1', async (t) => {
  const { router, peerId, peer } = await setup(t, { worker: { sessionWindow: 65536, initialWindowSize: 0x7fffffff } });
  // /slow does not read its body: no credit comes back.
  await router.send(peerId, syn(1, 'GET', '/slow?ms=10000', { fin: false }));
  await router.send(peerId, data(1, Buffer.alloc(65536)), data(1, Buffer.alloc(1)));
  const g = await router.expectFrame('GOAWAY', () => true, { peer });
  assert.equal(g.statusCode, GOAWAY.FLOW_CONTROL_ERROR);
  const second = await router.accept({ timeout: 3000 });
  await router.send(second.peerId, { type: 'SETTINGS', flags: 0, entries: [{ flags: 0, id: SETTING.INITIAL_WINDOW_SIZE, value: 0x80000000 }] });
  const g2 = await router.expectFrame('GOAWAY', () => true, { peer: second.peer });
  assert.equal(g2.statusCode, GOAWAY.FLOW_CONTROL_ERROR);
});

test('response flow control: the worker waits for WINDOW_UPDATE; SETTINGS INITIAL_WINDOW_SIZE applies', async (t) => {
  const { router, peerId, peer } = await setup(t, { welcome: { window: 1000 } });
  await router.send(peerId, syn(1, 'GET', '/large?bytes=5000'));
  const reply = await router.expectFrame('SYN_REPLY', (f) => f.streamId === 1);
  assert.equal(Object.fromEntries(reply.headers)['content-length'], '5000');
  const d1 = await router.expectFrame('DATA', (f) => f.streamId === 1);
  assert.equal(d1.data.length, 1000, 'exactly the stream window');
  // Raise the window by SETTINGS: +1000 for the active stream.
  await router.send(peerId, { type: 'SETTINGS', flags: 0, entries: [{ flags: 0, id: SETTING.INITIAL_WINDOW_SIZE, value: 2000 }] });
  const d2 = await router.expectFrame('DATA', (f) => f.streamId === 1);
  assert.equal(d2.data.length, 1000);
  await router.send(peerId, { type: 'WINDOW_UPDATE', flags: 0, streamId: 1, deltaWindowSize: 3000 });
  const d3 = await router.expectFrame('DATA', (f) => f.streamId === 1);
  assert.equal(d3.data.length, 3000);
  assert.ok(d3.flags & FLAG_FIN);
  const bytes = Buffer.concat([d1.data, d2.data, d3.data]);
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== i % 256) assert.fail(`byte ${i}`);
  // A WINDOW_UPDATE pushing a stream window above 2^31-1 is a stream error.
  await router.send(peerId, syn(3, 'GET', '/slow?ms=10000'));
  await router.send(peerId, { type: 'WINDOW_UPDATE', flags: 0, streamId: 3, deltaWindowSize: 0x7fffffff });
  const rst = await router.expectFrame('RST_STREAM', (f) => f.streamId === 3, { peer });
  assert.equal(rst.statusCode, RST.FLOW_CONTROL_ERROR);
});

test('request body credit goes back only as the handler reads', async (t) => {
  const readGate = deferred();
  const got = deferred();
  const handler = async (req, res) => {
    await readGate.promise;
    let n = 0;
    for await (const c of req) n += c.length;
    got.resolve(n);
    res.end(String(n));
  };
  const { router, peerId, peer } = await setup(t, { handler, worker: { sessionWindow: 65536 } });
  await router.send(peerId, syn(1, 'POST', '/x', { fin: false }));
  await router.send(peerId, data(1, Buffer.alloc(65536)));
  // Nothing is read: no credit. Use a PING round trip as a barrier.
  await router.send(peerId, { type: 'PING', flags: 0, id: 1 });
  await router.expectFrame('PING', (f) => f.id === 1);
  assert.ok(!router.frames.some((x) => x.peer === peer && x.frame?.type === 'WINDOW_UPDATE'), 'no credit before reading');
  readGate.resolve();
  const wuStream = await router.expectFrame('WINDOW_UPDATE', (f) => f.streamId === 1);
  const wuSession = await router.expectFrame('WINDOW_UPDATE', (f) => f.streamId === 0);
  assert.ok(wuStream.deltaWindowSize >= 32768 && wuSession.deltaWindowSize >= 32768);
  await router.send(peerId, data(1, 'end', true));
  assert.equal(await deadline(got.promise, 2000, 'body read'), 65539);
  assert.equal((await router.response(peerId, 1)).body.toString(), '65539');
});

test('trailers: request trailers reach the handler; /trailers sends HEADERS with FIN', async (t) => {
  const seen = deferred();
  const app = testApp('w1');
  const handler = async (req, res) => {
    if (req.url !== '/t') return app(req, res);
    let body = '';
    for await (const c of req) body += c;
    seen.resolve({ body, trailers: req.trailers });
    res.end();
  };
  const { router, peerId } = await setup(t, { handler });
  await router.send(peerId, syn(1, 'POST', '/t', { fin: false }), data(1, 'abc'), {
    type: 'HEADERS', flags: FLAG_FIN, streamId: 1, headers: [['x-sum', '42']],
  });
  assert.deepEqual(await deadline(seen.promise, 2000, 'trailers'), { body: 'abc', trailers: { 'x-sum': '42' } });
  const empty = await router.response(peerId, 1);
  assert.ok(empty.reply.flags & FLAG_FIN, 'an empty response is SYN_REPLY with FIN');
  await router.send(peerId, syn(3, 'GET', '/trailers'));
  const r = await router.response(peerId, 3);
  assert.deepEqual(r.frames.map((f) => [f.type, f.flags & FLAG_FIN]), [['SYN_REPLY', 0], ['DATA', 0], ['HEADERS', 1]]);
  assert.equal(r.body.toString(), 'ok');
  assert.deepEqual(r.trailers, { 'x-trailer': 'done' });
});

test('handler failures: 500 before the response head, RST INTERNAL_ERROR after', async (t) => {
  const handler = async (req, res) => {
    if (req.url === '/before') throw new Error('boom');
    res.write('partial');
    await new Promise((r) => setImmediate(r));
    throw new Error('boom after');
  };
  const { router, peerId } = await setup(t, { handler });
  await router.send(peerId, syn(1, 'GET', '/before'));
  const r1 = await router.response(peerId, 1);
  assert.equal(r1.status, '500');
  await router.send(peerId, syn(3, 'GET', '/after'));
  const r3 = await router.response(peerId, 3);
  assert.equal(r3.status, '200');
  assert.equal(r3.reset?.statusCode, RST.INTERNAL_ERROR);
});

test('test app: /stream frames, /status, /headers, /drain-body, 404, 400', async (t) => {
  const { router, peerId } = await setup(t);
  await router.send(peerId, syn(1, 'GET', '/stream?n=3&size=1000'));
  const s = await router.response(peerId, 1);
  const datas = s.frames.filter((f) => f.type === 'DATA' && f.data.length > 0);
  assert.deepEqual(datas.map((f) => [f.data.length, f.data[0], f.data[999]]), [[1000, 0x61, 0x61], [1000, 0x62, 0x62], [1000, 0x63, 0x63]]);
  await router.send(peerId, syn(3, 'GET', '/stream?n=0'));
  assert.ok((await router.response(peerId, 3)).reply.flags & FLAG_FIN);
  await router.send(peerId, syn(5, 'GET', '/status/204'));
  const r5 = await router.response(peerId, 5);
  assert.equal(r5.status, '204');
  assert.ok(r5.reply.flags & FLAG_FIN, '204 ends on SYN_REPLY');
  await router.send(peerId, syn(7, 'GET', '/status/99'));
  assert.equal((await router.response(peerId, 7)).status, '400');
  await router.send(peerId, syn(9, 'GET', '/headers?x=1', { headers: [['x-multi', 'a\0b'], ['x-empty', ''], ['x-bytes', 'caf\u00e9']] }));
  const h = await router.response(peerId, 9);
  assert.equal(h.headers['content-type'], 'application/json');
  const json = JSON.parse(h.body.toString('utf8'));
  assert.deepEqual(json, {
    method: 'GET',
    path: '/headers?x=1',
    version: 'HTTP/1.1',
    host: 'example.com',
    scheme: 'http',
    headers: { 'x-request-id': ['req-9'], 'x-multi': ['a', 'b'], 'x-empty': [''], 'x-bytes': ['caf\u00e9'] },
  });
  await router.send(peerId, syn(11, 'POST', '/drain-body', { fin: false }), data(11, Buffer.alloc(70000 - 65536)), data(11, '', true));
  assert.equal((await router.response(peerId, 11)).body.toString(), String(70000 - 65536));
  await router.send(peerId, syn(13, 'POST', '/drain-body'));
  assert.equal((await router.response(peerId, 13)).body.toString(), '0');
  await router.send(peerId, syn(15, 'GET', '/nothing-here'));
  const nf = await router.response(peerId, 15);
  assert.deepEqual([nf.status, nf.headers['content-type'], nf.body.toString()], ['404', 'text/plain', 'not found']);
  await router.send(peerId, syn(17, 'POST', '/hello'));
  assert.equal((await router.response(peerId, 17)).status, '404', 'wrong method');
  for (const [id, path] of [[19, '/stream?size=0'], [21, '/stream?n=x'], [23, '/slow'], [25, '/large?bytes=-1'], [27, '/stream?size=65537']]) {
    await router.send(peerId, syn(id, 'GET', path));
    assert.equal((await router.response(peerId, id)).status, '400', path);
  }
});

test('router restart (Appendix B.4): the next PING reaches a new router, UNKNOWN_SESSION, HELLO on a new socket', async (t) => {
  const first = await MiniRouter.start();
  const endpoint = first.endpoint;
  const worker = new Worker({
    id: 'w1', connect: [endpoint], handler: testApp('w1'), logger: testLogger, linger: 100, backoffInitial: 100, jitter: false,
  }).start();
  const a = await first.accept({ interval: 100, liveness: 30 });
  await deadline(once(worker, 'established'), 2000, 'established');
  first.close();
  // The same endpoint, a new router process that knows nobody. Binding may
  // fail for a moment while the old socket lets go of the port.
  let second;
  for (let i = 0; !second; i++) {
    try {
      second = await MiniRouter.start({ endpoint, autoPong: false });
    } catch (err) {
      if (i > 200) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  t.after(async () => {
    await worker.shutdown({ timeout: 200 });
    second.close();
  });
  const [oldSession] = worker.sessions;
  const ping = await second.expect((x) => x.frame?.type === 'PING', { what: 'PING from the old session' });
  // The old DEALER reconnected by itself (the new ROUTER gives it a routing id of its own).
  assert.equal(oldSession.state, 'established');
  assert.equal(worker.sessions.size, 1);
  await second.send(ping.peerId, { type: 'GOAWAY', flags: 0, lastGoodStreamId: 0, statusCode: GOAWAY.UNKNOWN_SESSION });
  const b = await second.accept({ timeout: 3000 });
  assert.notEqual(b.peer, ping.peer, 'a new socket');
  assert.equal(oldSession.state, 'closed');
  await second.send(b.peerId, syn(1, 'GET', '/hello'));
  assert.equal((await second.response(b.peerId, 1)).body.toString(), 'Hello from w1');
});
