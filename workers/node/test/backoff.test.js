// The registration schedule of §9.4, computed directly (no timers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from '../src/backoff.js';

test('rule 2: at once, then 1 s doubling to 32 s after consecutive failures; a WELCOME starts over', () => {
  const b = new Backoff({ initial: 1000, max: 32000 });
  const seen = [b.delay()];
  for (let i = 0; i < 8; i++) {
    b.failed();
    seen.push(b.delay());
  }
  assert.deepEqual(seen, [0, 1000, 2000, 4000, 8000, 16000, 32000, 32000, 32000]);
  b.succeeded();
  assert.equal(b.delay(), 0);
});

test('rule 4: a router shutting down is asked again after the last heartbeat interval, capped, never doubling', () => {
  const b = new Backoff({ initial: 1000, max: 32000 });
  for (let i = 0; i < 5; i++) {
    b.routerShuttingDown(200);
    assert.equal(b.delay(), 200);
  }
  b.routerShuttingDown(5000);
  assert.equal(b.delay(), 1000, 'capped at 1 s');
  b.routerShuttingDown(undefined);
  assert.equal(b.delay(), 1000, '1 s without a WELCOME');
  // The refusals added no failure to rule 2's count...
  b.failed();
  assert.equal(b.delay(), 1000);
  b.failed();
  assert.equal(b.delay(), 2000);
  // ...nor reset it.
  b.routerShuttingDown(200);
  assert.equal(b.delay(), 200);
  b.failed();
  assert.equal(b.delay(), 4000);
  b.routerShuttingDown(200);
  b.succeeded();
  assert.equal(b.delay(), 0, 'a WELCOME resets both');
});
