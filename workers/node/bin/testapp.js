#!/usr/bin/env node
// The conformance test app of PROTOCOL.md Appendix A.
//
//   testapp.js ID [--connect ENDPOINT]... [--route ROUTE]... [--capacity N]
//                 [--window BYTES] [--log-level debug|info|warn|error]
//                 [--curve-server-key FILE|Z85 --curve-key FILE]
//
// --connect defaults to $ZROUTE_CONNECT (comma- or space-separated), else
// tcp://127.0.0.1:8000. Logs go to stderr, one JSON object per line.
import { Worker, jsonLogger, testApp, loadCurve, DEFAULT_ENDPOINT } from '../src/index.js';

function usage(msg) {
  if (msg) process.stderr.write(`testapp: ${msg}\n`);
  process.stderr.write(
    'usage: testapp.js ID [--connect ENDPOINT]... [--route ROUTE]... [--capacity N] [--window BYTES] [--log-level LEVEL] [--curve-server-key FILE|Z85 --curve-key FILE]\n',
  );
  process.exit(2);
}

const args = process.argv.slice(2);
let id;
const connect = [];
const routes = [];
let capacity;
let window;
let level;
let curveServerKey;
let curveKey;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const value = () => {
    const v = args[++i];
    if (v === undefined) usage(`${a} needs a value`);
    return v;
  };
  if (a === '--connect') connect.push(value());
  else if (a.startsWith('--connect=')) connect.push(a.slice(10));
  else if (a === '--route') routes.push(value());
  else if (a.startsWith('--route=')) routes.push(a.slice(8));
  else if (a === '--capacity') capacity = Number(value());
  else if (a === '--window') window = Number(value());
  else if (a === '--log-level') level = value();
  else if (a === '--curve-server-key') curveServerKey = value();
  else if (a === '--curve-key') curveKey = value();
  else if (a === '-h' || a === '--help') usage();
  else if (a.startsWith('-')) usage(`unknown option ${a}`);
  else if (id === undefined) id = a;
  else usage(`unexpected argument ${a}`);
}
if (id === undefined) usage('the worker id is required');
if ((curveServerKey === undefined) !== (curveKey === undefined)) usage('--curve-server-key and --curve-key go together');

const logger = jsonLogger({ level });
let worker;
try {
  const env = process.env.ZROUTE_CONNECT;
  worker = new Worker({
    id,
    connect: connect.length ? connect : env ? env.split(/[\s,]+/).filter(Boolean) : [DEFAULT_ENDPOINT],
    routes,
    features: ['trailers', 'websocket'],
    labels: { impl: 'node', pid: String(process.pid) },
    capacity,
    initialWindowSize: window,
    handler: testApp(id, logger),
    logger,
    curve: curveKey === undefined ? undefined : loadCurve(/** @type {string} */ (curveServerKey), curveKey),
  });
} catch (err) {
  usage(err.message);
}
logger.log('info', 'test app starting', { worker: id, endpoints: worker.endpoints, routes });
worker.handleSignals().start();
