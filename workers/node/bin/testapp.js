#!/usr/bin/env node
// The conformance test app of PROTOCOL.md Appendix A.
//
//   testapp.js ID [--connect ENDPOINT]... [--route ROUTE]... [--capacity N]
//                 [--window BYTES] [--log-level debug|info|warn|error]
//                 [--curve-server-key FILE|Z85 --curve-key FILE]
//                 [--nameserver IP:PORT] [--resolve-interval MS]
//
// --connect defaults to $ZROUTE_CONNECT (comma- or space-separated), else
// tcp://127.0.0.1:8000; an endpoint may be named (tcp://name:port,
// dns+srv://_service._tcp.name, PROTOCOL.md §3.5). --nameserver defaults to
// $ZROUTE_NAMESERVER, else the system's resolver; --resolve-interval to
// $ZROUTE_RESOLVE_INTERVAL_MS, else 5000. Logs go to stderr, one JSON object
// per line.
import { Worker, jsonLogger, testApp, loadCurve, DEFAULT_ENDPOINT } from '../src/index.js';

function usage(msg) {
  if (msg) process.stderr.write(`testapp: ${msg}\n`);
  process.stderr.write(
    'usage: testapp.js ID [--connect ENDPOINT]... [--route ROUTE]... [--capacity N] [--window BYTES] [--log-level LEVEL]\n' +
      '                  [--curve-server-key FILE|Z85 --curve-key FILE] [--nameserver IP:PORT] [--resolve-interval MS]\n' +
      '  --connect ENDPOINT      tcp://IP:port, ipc://path, or named: tcp://name:port, dns+srv://_service._tcp.name\n' +
      '                          (default: $ZROUTE_CONNECT, else tcp://127.0.0.1:8000)\n' +
      '  --nameserver IP:PORT    send the DNS queries of named endpoints there, over UDP\n' +
      '                          (default: $ZROUTE_NAMESERVER, else the system\'s resolver)\n' +
      '  --resolve-interval MS   look named endpoints up again every MS milliseconds\n' +
      '                          (default: $ZROUTE_RESOLVE_INTERVAL_MS, else 5000)\n',
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
let nameserver;
let resolveInterval;
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
  else if (a === '--nameserver') nameserver = value();
  else if (a.startsWith('--nameserver=')) nameserver = a.slice(13);
  else if (a === '--resolve-interval' || a.startsWith('--resolve-interval=')) {
    const v = a === '--resolve-interval' ? value() : a.slice(19);
    if (!/^[0-9]+$/.test(v) || Number(v) < 1) usage(`--resolve-interval needs a whole number of milliseconds, 1 or more (got ${JSON.stringify(v)})`);
    resolveInterval = Number(v);
  }
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
    features: ['trailers', 'websocket', 'discovery', 'reason-phrase'],
    labels: { impl: 'node', pid: String(process.pid) },
    capacity,
    initialWindowSize: window,
    handler: testApp(id, logger),
    logger,
    nameserver,
    resolveInterval,
    curve: curveKey === undefined ? undefined : loadCurve(/** @type {string} */ (curveServerKey), curveKey),
  });
} catch (err) {
  usage(err.message);
}
logger.log('info', 'test app starting', {
  worker: id,
  endpoints: worker.endpoints,
  routes,
  ...(worker._specs.some((s) => s.kind !== 'static')
    ? { nameserver: worker.nameserver ?? 'system', resolveIntervalMs: worker.resolveInterval }
    : {}),
});
worker.handleSignals().start();
