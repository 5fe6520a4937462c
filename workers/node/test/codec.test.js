// Replays every test vector of spec/vectors (spec/VECTORS.md) against the codec.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import {
  decodeFrame,
  encodeFrame,
  reactionFor,
  FrameError,
  RST,
  GOAWAY,
  SETTING,
  codeName,
  decodeBlock,
  encodeBlock,
} from '../src/codec.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const VECTOR_DIR = process.env.ZROUTE_VECTORS ?? path.resolve(here, '../../../spec/vectors');

const EXPECTED_FILES = [
  'data.json',
  'frame_header.json',
  'goaway.json',
  'header_block.json',
  'headers.json',
  'hello.json',
  'ping.json',
  'rst_stream.json',
  'settings.json',
  'syn_reply.json',
  'syn_stream.json',
  'unknown.json',
  'welcome.json',
  'window_update.json',
];

/** @param {Record<string, number>} table @param {string|number} v */
const num = (table, v) => {
  if (typeof v === 'number') return v;
  assert.ok(v in table, `unknown name ${v}`);
  return table[v];
};

/** Converts a vector frame object (VECTORS.md §3) to the codec's representation. */
function fromVector(f) {
  const out = { ...f };
  if ('payloadHex' in out) {
    const buf = Buffer.from(out.payloadHex, 'hex');
    delete out.payloadHex;
    if (f.type === 'DATA') out.data = buf;
    else out.payload = buf;
  }
  if (f.type === 'RST_STREAM') out.statusCode = num(RST, f.statusCode);
  if (f.type === 'GOAWAY') out.statusCode = num(GOAWAY, f.statusCode);
  if (f.type === 'SETTINGS') out.entries = f.entries.map((e) => ({ ...e, id: num(SETTING, e.id) }));
  return out;
}

/** Converts a decoded frame back to the vector representation. */
function toVector(f) {
  const out = { ...f };
  if (f.type === 'DATA') {
    out.payloadHex = f.data.toString('hex');
    delete out.data;
  }
  if (f.type === 'UNKNOWN') {
    out.payloadHex = f.payload.toString('hex');
    delete out.payload;
  }
  if (f.type === 'RST_STREAM') out.statusCode = codeName(RST, f.statusCode);
  if (f.type === 'GOAWAY') out.statusCode = codeName(GOAWAY, f.statusCode);
  if (f.type === 'SETTINGS') out.entries = f.entries.map((e) => ({ ...e, id: codeName(SETTING, e.id) }));
  return out;
}

/** @param {{kind: string, status: number, streamId?: number}} r */
function reactionString(r) {
  return r.kind === 'stream' ? `stream:${codeName(RST, r.status)}` : `session:${codeName(GOAWAY, r.status)}`;
}

const files = readdirSync(VECTOR_DIR).filter((f) => f.endsWith('.json')).sort();

test('every vector file of VECTORS.md §1 is present', () => {
  for (const f of EXPECTED_FILES) assert.ok(files.includes(f), `missing ${f}`);
});

let total = 0;
for (const file of files) {
  const doc = JSON.parse(readFileSync(path.join(VECTOR_DIR, file), 'utf8'));
  describe(`vectors ${file}`, () => {
    test('format', () => assert.equal(doc.format, 'zroute-vectors/1'));
    for (const v of doc.vectors) {
      total++;
      test(v.id, () => {
        const part = Buffer.from(v.hex, 'hex');
        if (v.result === 'valid') {
          const frame = decodeFrame(part);
          assert.deepEqual(toVector(frame), v.frame, `decode ${v.id}`);
          const encoded = encodeFrame(/** @type {any} */ (fromVector(v.frame)));
          if (v.canonical === false) {
            assert.notEqual(encoded.toString('hex'), v.hex, 'non-canonical vector re-encodes differently');
            // The canonical re-encoding still decodes to the same frame.
            assert.deepEqual(toVector(decodeFrame(encoded)), v.frame);
          } else {
            assert.equal(encoded.toString('hex'), v.hex, `encode ${v.id}`);
          }
        } else {
          assert.equal(v.result, 'invalid');
          let err;
          try {
            decodeFrame(part);
          } catch (e) {
            err = e;
          }
          assert.ok(err instanceof FrameError, `${v.id} must fail to decode, got ${err}`);
          assert.equal(err.code, v.error);
          const r = reactionFor(err);
          assert.equal(reactionString(r), v.reaction);
          if (r.kind === 'stream') assert.equal(r.streamId, v.streamId);
          else assert.equal(v.streamId, undefined);
        }
      });
    }
  });
}

test('vector count is non-trivial', () => {
  assert.ok(total >= 200, `only ${total} vectors`);
});

test('pair limit makes a block malformed (§7.4)', () => {
  const pairs = Array.from({ length: 5 }, (_, i) => [`x-${i}`, 'v']);
  const block = encodeBlock(/** @type {any} */ (pairs));
  assert.equal(decodeBlock(block, { maxPairs: 5 }).length, 5);
  assert.throws(() => decodeBlock(block, { maxPairs: 4 }), (e) => e instanceof FrameError && e.code === 'header-count-over-limit');
});
