// CURVE keys for the worker's DEALER sockets (PROTOCOL.md §14.1), read from
// the files `zroute-router keygen --out NAME` writes: NAME.pub holds one Z85
// public key, NAME.key holds `public-key = "…"` and `secret-key = "…"` lines.
import { existsSync, readFileSync } from 'node:fs';
import * as zmq from 'zeromq';

const Z85 = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

/**
 * @typedef {object} CurveOptions
 * @property {string} serverKey   the router's public key, Z85
 * @property {string} publicKey   this worker's public key, Z85 (in the router's allowlist)
 * @property {string} secretKey   this worker's secret key, Z85
 */

/** @param {string} text @param {string} what */
function z85(text, what) {
  if (!Z85.test(text)) throw new TypeError(`${what} is not a 40-character Z85 key`);
  return text;
}

/** @param {string} text @param {string} name */
function field(text, name) {
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && line.slice(0, eq).trim() === name) return line.slice(eq + 1).trim().replace(/^"|"$/g, '');
  }
  return undefined;
}

/**
 * The router's public key given as 40 Z85 characters or as a file (a .pub
 * file, or the public half of a .key file).
 * @param {string} arg
 */
export function readServerKey(arg) {
  // An existing file wins: a 40-character path can be valid Z85 too.
  if (Z85.test(arg) && !existsSync(arg)) return arg;
  const text = readFileSync(arg, 'utf8');
  const fromKeyFile = field(text, 'public-key');
  if (fromKeyFile !== undefined) return z85(fromKeyFile, `${arg}: public-key`);
  const words = text
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((w) => w && !(w.startsWith('#') && !Z85.test(w)));
  if (words.length !== 1) throw new TypeError(`${arg}: expected one public key, found ${words.length}`);
  return z85(words[0], arg);
}

/**
 * CURVE options from the router's public key (Z85 or file) and this worker's
 * key file. Throws if a key is malformed or this zeromq build lacks CURVE.
 * @param {string} serverKey
 * @param {string} keyFile
 * @returns {CurveOptions}
 */
export function loadCurve(serverKey, keyFile) {
  if (!zmq.capability.curve) throw new Error('this zeromq build has no CURVE support');
  const text = readFileSync(keyFile, 'utf8');
  const publicKey = field(text, 'public-key');
  const secretKey = field(text, 'secret-key');
  if (publicKey === undefined || secretKey === undefined) {
    throw new TypeError(`${keyFile}: needs public-key and secret-key lines`);
  }
  return {
    serverKey: readServerKey(serverKey),
    publicKey: z85(publicKey, `${keyFile}: public-key`),
    secretKey: z85(secretKey, `${keyFile}: secret-key`),
  };
}

/**
 * CURVE options from ZROUTE_CURVE_SERVER_KEY and ZROUTE_CURVE_KEY (both or
 * neither), or undefined.
 * @param {NodeJS.ProcessEnv} env
 * @returns {CurveOptions | undefined}
 */
export function curveFromEnv(env = process.env) {
  const server = env.ZROUTE_CURVE_SERVER_KEY;
  const key = env.ZROUTE_CURVE_KEY;
  if (!server && !key) return undefined;
  if (!server || !key) throw new TypeError('ZROUTE_CURVE_SERVER_KEY and ZROUTE_CURVE_KEY go together');
  return loadCurve(server, key);
}
