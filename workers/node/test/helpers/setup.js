import { Worker, jsonLogger, silentLogger, testApp } from '../../src/index.js';
import { MiniRouter } from './router.js';

export const testLogger = process.env.ZROUTE_TEST_LOG ? jsonLogger({ level: 'debug' }) : silentLogger;

/** A promise with its resolve function. */
export function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Starts a mini router and a worker connected to it, and completes the
 * handshake (unless `welcome.answer` is false).
 * @param {import('node:test').TestContext} t
 * @param {{handler?: Function, worker?: object, welcome?: object, router?: object}} [opts]
 */
export async function setup(t, opts = {}) {
  const router = await MiniRouter.start(opts.router);
  const worker = new Worker({
    id: 'w1',
    connect: [router.endpoint],
    handler: opts.handler ?? testApp('w1'),
    logger: testLogger,
    features: ['trailers'],
    linger: 100,
    backoffInitial: 100,
    jitter: false,
    ...opts.worker,
  });
  worker.start();
  const accepted = await router.accept(opts.welcome);
  t.after(async () => {
    await worker.shutdown({ timeout: 200 });
    router.close();
  });
  return { router, worker, ...accepted };
}
