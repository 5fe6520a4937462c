// @ts-check
/**
 * zroute frame codec: SPDY/3.1-format frames with uncompressed name/value
 * blocks, plus the zroute HELLO and WELCOME frames (PROTOCOL.md §4, §5, §7).
 *
 * One message part holds exactly one frame. `decodeFrame` applies the checks of
 * §4.6 in order and throws a {@link FrameError} naming the first failing check;
 * `encodeFrame` produces the canonical bytes of a frame object.
 *
 * Names and values of name/value blocks are "binary" (latin1) strings: every
 * character is one byte (U+0000 to U+00FF), exactly as in the test vectors.
 */

export const FRAME_VERSION = 3;
export const PROTOCOL_VERSION = 1;
export const HEADER_SIZE = 8;
export const MAX_PAYLOAD = 65536;
export const MAX_WINDOW = 0x7fffffff;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

/** Control frame type numbers (§4.2). */
export const TYPE = Object.freeze({
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
  HELLO: 0x5a01,
  WELCOME: 0x5a02,
});

/** @type {Map<number, string>} */
const TYPE_NAMES = new Map(Object.entries(TYPE).map(([k, v]) => [v, k]));

/** RST_STREAM status codes (§6.1). */
export const RST = Object.freeze({
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
});

/** GOAWAY status codes (§6.2). */
export const GOAWAY = Object.freeze({
  OK: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  UNKNOWN_SESSION: 4,
  UNSUPPORTED_VERSION: 5,
  REFUSED: 6,
});

/** SETTINGS ids (§5.4). */
export const SETTING = Object.freeze({
  UPLOAD_BANDWIDTH: 1,
  DOWNLOAD_BANDWIDTH: 2,
  ROUND_TRIP_TIME: 3,
  MAX_CONCURRENT_STREAMS: 4,
  CURRENT_CWND: 5,
  DOWNLOAD_RETRANS_RATE: 6,
  INITIAL_WINDOW_SIZE: 7,
  CLIENT_CERTIFICATE_VECTOR_SIZE: 8,
});

/**
 * @param {Record<string, number>} table
 * @param {number} value
 * @returns {string | number} the name of a known value, else the number
 */
export function codeName(table, value) {
  for (const [k, v] of Object.entries(table)) if (v === value) return k;
  return value;
}

/** @param {number} code */
export const rstName = (code) => codeName(RST, code);
/** @param {number} code */
export const goawayName = (code) => codeName(GOAWAY, code);

/**
 * The status a receiver acts on for an RST_STREAM code: 0, 10 and every
 * undefined value count as INTERNAL_ERROR (§6.1).
 * @param {number} code
 */
export function effectiveRstCode(code) {
  return /** @type {number[]} */ (Object.values(RST)).includes(code) ? code : RST.INTERNAL_ERROR;
}

/**
 * The status a receiver acts on for a GOAWAY code: undefined codes count as
 * INTERNAL_ERROR (§6.2).
 * @param {number} code
 */
export function effectiveGoawayCode(code) {
  return /** @type {number[]} */ (Object.values(GOAWAY)).includes(code) ? code : GOAWAY.INTERNAL_ERROR;
}

/**
 * @typedef {[string, string]} Pair  a name/value pair; both are latin1 strings
 *
 * @typedef {{type: 'DATA', flags: number, streamId: number, data: Buffer}} DataFrame
 * @typedef {{type: 'SYN_STREAM', flags: number, streamId: number, associatedStreamId: number,
 *            priority: number, slot: number, headers: Pair[]}} SynStreamFrame
 * @typedef {{type: 'SYN_REPLY', flags: number, streamId: number, headers: Pair[]}} SynReplyFrame
 * @typedef {{type: 'RST_STREAM', flags: number, streamId: number, statusCode: number}} RstStreamFrame
 * @typedef {{flags: number, id: number, value: number}} SettingsEntry
 * @typedef {{type: 'SETTINGS', flags: number, entries: SettingsEntry[]}} SettingsFrame
 * @typedef {{type: 'PING', flags: number, id: number}} PingFrame
 * @typedef {{type: 'GOAWAY', flags: number, lastGoodStreamId: number, statusCode: number}} GoawayFrame
 * @typedef {{type: 'HEADERS', flags: number, streamId: number, headers: Pair[]}} HeadersFrame
 * @typedef {{type: 'WINDOW_UPDATE', flags: number, streamId: number, deltaWindowSize: number}} WindowUpdateFrame
 * @typedef {{type: 'HELLO', flags: number, version: number, maxConcurrentStreams: number,
 *            initialWindowSize: number, attributes: Pair[]}} HelloFrame
 * @typedef {{type: 'WELCOME', flags: number, version: number, heartbeatIntervalMs: number,
 *            heartbeatLiveness: number, initialWindowSize: number, attributes: Pair[]}} WelcomeFrame
 * @typedef {{type: 'UNKNOWN', flags: number, frameType: number, payload: Buffer}} UnknownFrame
 *
 * @typedef {DataFrame | SynStreamFrame | SynReplyFrame | RstStreamFrame | SettingsFrame | PingFrame |
 *           GoawayFrame | HeadersFrame | WindowUpdateFrame | HelloFrame | WelcomeFrame | UnknownFrame} Frame
 */

/**
 * A part that does not decode. `code` is the error name of VECTORS.md §4.
 * `frameType` is 'DATA', a known control type name, 'UNKNOWN' or undefined
 * (before the header could be read). `streamId` is set when the error is a
 * stream error candidate (frame-too-large on a stream frame, zero-window-delta,
 * malformed block of SYN_STREAM/SYN_REPLY/HEADERS). `dataLength` is the payload
 * size of a DATA frame whose header passed steps 1 to 3 (it still counts
 * against the session window, §4.6).
 */
export class FrameError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{frameType?: string, streamId?: number, dataLength?: number, flags?: number}} [info]
   */
  constructor(code, message, info = {}) {
    super(`${code}: ${message}`);
    this.name = 'FrameError';
    this.code = code;
    this.frameType = info.frameType;
    this.streamId = info.streamId;
    this.dataLength = info.dataLength;
    this.flags = info.flags;
  }
}

/**
 * The reaction the protocol requires for a decode error, in an established
 * session on a stream that is not closed (VECTORS.md §2): a stream error with
 * an RST_STREAM status and the stream id, or a session error with a GOAWAY
 * status.
 * @param {FrameError} err
 * @returns {{kind: 'stream', status: number, streamId: number} | {kind: 'session', status: number}}
 */
export function reactionFor(err) {
  const streamTypes = ['DATA', 'SYN_STREAM', 'SYN_REPLY', 'HEADERS'];
  switch (err.code) {
    case 'unsupported-version':
      return { kind: 'session', status: GOAWAY.UNSUPPORTED_VERSION };
    case 'frame-too-large':
      if (err.frameType && streamTypes.includes(err.frameType) && err.streamId) {
        return { kind: 'stream', status: RST.FRAME_TOO_LARGE, streamId: err.streamId };
      }
      return { kind: 'session', status: GOAWAY.PROTOCOL_ERROR };
    case 'zero-window-delta':
      if (err.streamId) return { kind: 'stream', status: RST.PROTOCOL_ERROR, streamId: err.streamId };
      return { kind: 'session', status: GOAWAY.PROTOCOL_ERROR };
    default:
      if (BLOCK_ERRORS.has(err.code) && err.streamId && err.frameType !== 'HELLO' && err.frameType !== 'WELCOME') {
        return { kind: 'stream', status: RST.PROTOCOL_ERROR, streamId: err.streamId };
      }
      return { kind: 'session', status: GOAWAY.PROTOCOL_ERROR };
  }
}

const BLOCK_ERRORS = new Set([
  'header-block-truncated',
  'header-count-too-large',
  'empty-header-name',
  'uppercase-header-name',
  'invalid-header-name',
  'duplicate-header-name',
  'invalid-header-value',
  'header-block-trailing-bytes',
  'header-count-over-limit',
]);

/** @param {string} code */
export const isBlockError = (code) => BLOCK_ERRORS.has(code);

// name-char = %x61-7A / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
const NAME_CHAR = new Uint8Array(256);
for (let c = 0x61; c <= 0x7a; c++) NAME_CHAR[c] = 1;
for (let c = 0x30; c <= 0x39; c++) NAME_CHAR[c] = 1;
for (const ch of "!#$%&'*+-.^_`|~") NAME_CHAR[ch.charCodeAt(0)] = 1;

/**
 * Checks one name against §7.2 rule 3 and 4.
 * @param {Buffer | string} name
 * @returns {string | null} the error name, or null when valid
 */
export function checkName(name) {
  const b = typeof name === 'string' ? Buffer.from(name, 'latin1') : name;
  if (b.length === 0) return 'empty-header-name';
  const start = b[0] === 0x3a ? 1 : 0;
  if (start === 1 && b.length === 1) return 'invalid-header-name';
  let invalid = false;
  for (let i = start; i < b.length; i++) {
    const c = b[i];
    if (c >= 0x41 && c <= 0x5a) return 'uppercase-header-name';
    if (!NAME_CHAR[c]) invalid = true;
  }
  return invalid ? 'invalid-header-name' : null;
}

/**
 * Checks one value against §7.2 rules 6 and 7.
 * @param {Buffer | string} value
 * @returns {boolean}
 */
export function isValidValue(value) {
  const b = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  if (b.length === 0) return true;
  if (b[0] === 0 || b[b.length - 1] === 0) return false;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === 0x0a || c === 0x0d) return false;
    if (c === 0 && b[i + 1] === 0) return false;
  }
  return true;
}


/**
 * One length-prefixed name or value of a block at `off` (Section 7.1).
 * @param {Buffer} buf
 * @param {number} off
 * @param {string} what
 * @param {(code: string, msg: string) => never} fail
 * @returns {[Buffer, number]} the bytes and the offset after them
 */
function lengthPrefixed(buf, off, what, fail) {
  if (off + 4 > buf.length) fail('header-block-truncated', `${what} length runs past the end`);
  const len = buf.readUInt32BE(off);
  off += 4;
  if (len > buf.length - off) fail('header-block-truncated', `${what} runs past the end`);
  return [buf.subarray(off, off + len), off + len];
}

/**
 * Decodes a name/value block (§7) that spans all of `buf`, in the check order
 * of §7.3. Throws a FrameError with the block error name.
 * @param {Buffer} buf
 * @param {{maxPairs?: number, frameType?: string, streamId?: number}} [opts]
 * @returns {Pair[]}
 */
export function decodeBlock(buf, opts = {}) {
  const info = { frameType: opts.frameType, streamId: opts.streamId };
  const fail = (/** @type {string} */ code, /** @type {string} */ msg) => {
    throw new FrameError(code, msg, info);
  };
  if (buf.length < 4) fail('header-block-truncated', 'block shorter than its 4-byte count');
  const count = buf.readUInt32BE(0);
  if (count > Math.floor((buf.length - 4) / 8)) fail('header-count-too-large', `count ${count} cannot fit`);
  if (opts.maxPairs !== undefined && count > opts.maxPairs) {
    fail('header-count-over-limit', `count ${count} exceeds the limit ${opts.maxPairs}`);
  }
  /** @type {Pair[]} */
  const pairs = [];
  let off = 4;
  for (let i = 0; i < count; i++) {
    let name, value;
    [name, off] = lengthPrefixed(buf, off, 'name', fail);
    const nameErr = checkName(name);
    if (nameErr) fail(nameErr, `bad name ${JSON.stringify(name.toString('latin1'))}`);
    [value, off] = lengthPrefixed(buf, off, 'value', fail);
    if (!isValidValue(value)) fail('invalid-header-value', `bad value for ${name.toString('latin1')}`);
    pairs.push([name.toString('latin1'), value.toString('latin1')]);
  }
  if (off !== buf.length) fail('header-block-trailing-bytes', `${buf.length - off} bytes after the last pair`);
  const seen = new Set();
  for (const [n] of pairs) {
    if (seen.has(n)) fail('duplicate-header-name', `name ${n} appears twice`);
    seen.add(n);
  }
  return pairs;
}

/**
 * Encodes a name/value block. Does not validate (see {@link validateBlock}).
 * @param {Pair[]} pairs
 * @returns {Buffer}
 */
export function encodeBlock(pairs) {
  const bufs = pairs.map(([n, v]) => [Buffer.from(n, 'latin1'), Buffer.from(v, 'latin1')]);
  let size = 4;
  for (const [n, v] of bufs) size += 8 + n.length + v.length;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(pairs.length, 0);
  let off = 4;
  for (const [n, v] of bufs) {
    out.writeUInt32BE(n.length, off);
    off += 4;
    n.copy(out, off);
    off += n.length;
    out.writeUInt32BE(v.length, off);
    off += 4;
    v.copy(out, off);
    off += v.length;
  }
  return out;
}

/**
 * Validates pairs a sender is about to put in a block (§7.2); returns the first
 * problem or null.
 * @param {Pair[]} pairs
 * @returns {string | null}
 */
export function validateBlock(pairs) {
  const seen = new Set();
  for (const [n, v] of pairs) {
    const e = checkName(n);
    if (e) return `${e}: ${JSON.stringify(n)}`;
    if (!isValidValue(v)) return `invalid-header-value for ${n}`;
    if (seen.has(n)) return `duplicate-header-name: ${n}`;
    seen.add(n);
  }
  return null;
}

/** @type {Record<number, number>} */
const FIXED_SIZE = {
  [TYPE.RST_STREAM]: 8,
  [TYPE.PING]: 4,
  [TYPE.GOAWAY]: 8,
  [TYPE.WINDOW_UPDATE]: 8,
};
/** @type {Record<number, number>} */
const MIN_SIZE = {
  [TYPE.SYN_STREAM]: 10,
  [TYPE.SYN_REPLY]: 4,
  [TYPE.HEADERS]: 4,
  [TYPE.HELLO]: 12,
  [TYPE.WELCOME]: 16,
  [TYPE.SETTINGS]: 4,
};

/**
 * Decodes one non-empty message part into a frame, applying the checks of
 * §4.6 in order. Unknown control frame types decode to an UNKNOWN frame.
 * @param {Buffer} part
 * @param {{maxPairs?: number}} [opts] maxPairs: the receiver's pair limit (§7.4)
 * @returns {Frame}
 */
export function decodeFrame(part, opts = {}) {
  // 1. truncated
  if (part.length < HEADER_SIZE) throw new FrameError('truncated', `part of ${part.length} bytes`);
  const w0 = part.readUInt32BE(0);
  const control = (w0 & 0x80000000) !== 0;
  const flags = part[4];
  const length = part.readUIntBE(5, 3);
  const payloadSize = part.length - HEADER_SIZE;
  // 2. unsupported-version
  if (control) {
    const version = (w0 >>> 16) & 0x7fff;
    if (version !== FRAME_VERSION) {
      throw new FrameError('unsupported-version', `control frame version ${version}`);
    }
  }
  const type = control ? w0 & 0xffff : 0;
  const typeName = control ? (TYPE_NAMES.get(type) ?? 'UNKNOWN') : 'DATA';
  // 3. length-mismatch
  if (length !== payloadSize) {
    throw new FrameError('length-mismatch', `length field ${length}, payload ${payloadSize}`, {
      frameType: typeName,
    });
  }
  const payload = part.subarray(HEADER_SIZE);
  // 4. frame-too-large
  if (payloadSize > MAX_PAYLOAD) {
    let streamId = 0;
    if (!control) streamId = w0 & 0x7fffffff;
    else if (type === TYPE.SYN_STREAM || type === TYPE.SYN_REPLY || type === TYPE.HEADERS) {
      streamId = payload.readUInt32BE(0) & 0x7fffffff;
    }
    throw new FrameError('frame-too-large', `payload of ${payloadSize} bytes`, {
      frameType: typeName,
      streamId: streamId || undefined,
      dataLength: control ? undefined : payloadSize,
      flags,
    });
  }
  if (!control) {
    const streamId = w0 & 0x7fffffff;
    // 7. zero-stream-id
    if (streamId === 0) {
      throw new FrameError('zero-stream-id', 'DATA on stream 0', { frameType: 'DATA', dataLength: payloadSize });
    }
    return { type: 'DATA', flags, streamId, data: payload };
  }
  // 5. unknown type: ignored by the receiver
  if (typeName === 'UNKNOWN') return { type: 'UNKNOWN', flags, frameType: type, payload };
  // 6. bad-payload-size
  const fixed = FIXED_SIZE[type];
  if (fixed !== undefined && payloadSize !== fixed) {
    throw new FrameError('bad-payload-size', `${typeName} payload of ${payloadSize} bytes`, { frameType: typeName });
  }
  const min = MIN_SIZE[type];
  if (min !== undefined && payloadSize < min) {
    throw new FrameError('bad-payload-size', `${typeName} payload of ${payloadSize} bytes`, { frameType: typeName });
  }
  if (type === TYPE.SETTINGS) {
    const n = payload.readUInt32BE(0);
    if (4 + 8 * n !== payloadSize) {
      // 4 + 8n in double precision is exact for every 32-bit n.
      throw new FrameError('bad-payload-size', `SETTINGS count ${n} for ${payloadSize} bytes`, {
        frameType: typeName,
      });
    }
  }
  const u31 = (/** @type {number} */ off) => payload.readUInt32BE(off) & 0x7fffffff;
  switch (type) {
    case TYPE.SYN_STREAM: {
      const streamId = u31(0);
      if (streamId === 0) throw new FrameError('zero-stream-id', 'SYN_STREAM on stream 0', { frameType: typeName });
      const headers = decodeBlock(payload.subarray(10), { ...opts, frameType: typeName, streamId });
      return {
        type: 'SYN_STREAM',
        flags,
        streamId,
        associatedStreamId: u31(4),
        priority: payload[8] >>> 5,
        slot: payload[9],
        headers,
      };
    }
    case TYPE.SYN_REPLY:
    case TYPE.HEADERS: {
      const streamId = u31(0);
      if (streamId === 0) throw new FrameError('zero-stream-id', `${typeName} on stream 0`, { frameType: typeName });
      const headers = decodeBlock(payload.subarray(4), { ...opts, frameType: typeName, streamId });
      return { type: /** @type {'SYN_REPLY' | 'HEADERS'} */ (typeName), flags, streamId, headers };
    }
    case TYPE.RST_STREAM: {
      const streamId = u31(0);
      if (streamId === 0) throw new FrameError('zero-stream-id', 'RST_STREAM on stream 0', { frameType: typeName });
      return { type: 'RST_STREAM', flags, streamId, statusCode: payload.readUInt32BE(4) };
    }
    case TYPE.SETTINGS: {
      const n = payload.readUInt32BE(0);
      /** @type {SettingsEntry[]} */
      const entries = [];
      for (let i = 0; i < n; i++) {
        const off = 4 + 8 * i;
        entries.push({ flags: payload[off], id: payload.readUIntBE(off + 1, 3), value: payload.readUInt32BE(off + 4) });
      }
      return { type: 'SETTINGS', flags, entries };
    }
    case TYPE.PING:
      return { type: 'PING', flags, id: payload.readUInt32BE(0) };
    case TYPE.GOAWAY:
      return { type: 'GOAWAY', flags, lastGoodStreamId: u31(0), statusCode: payload.readUInt32BE(4) };
    case TYPE.WINDOW_UPDATE: {
      const streamId = u31(0);
      const delta = u31(4);
      if (delta === 0) {
        throw new FrameError('zero-window-delta', `WINDOW_UPDATE(${streamId}) with delta 0`, {
          frameType: typeName,
          streamId: streamId || undefined,
        });
      }
      return { type: 'WINDOW_UPDATE', flags, streamId, deltaWindowSize: delta };
    }
    case TYPE.HELLO:
      return {
        type: 'HELLO',
        flags,
        version: payload.readUInt16BE(0),
        maxConcurrentStreams: payload.readUInt32BE(4),
        initialWindowSize: u31(8),
        attributes: decodeBlock(payload.subarray(12), { ...opts, frameType: typeName }),
      };
    case TYPE.WELCOME:
      return {
        type: 'WELCOME',
        flags,
        version: payload.readUInt16BE(0),
        heartbeatIntervalMs: payload.readUInt32BE(4),
        heartbeatLiveness: payload.readUInt32BE(8),
        initialWindowSize: u31(12),
        attributes: decodeBlock(payload.subarray(16), { ...opts, frameType: typeName }),
      };
    default:
      throw new Error('unreachable');
  }
}

/**
 * @param {number} type
 * @param {number} flags
 * @param {Buffer} payload
 */
function control(type, flags, payload) {
  const out = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  out.writeUInt32BE((0x80000000 | (FRAME_VERSION << 16) | type) >>> 0, 0);
  out[4] = flags & 0xff;
  out.writeUIntBE(payload.length, 5, 3);
  payload.copy(out, HEADER_SIZE);
  return out;
}

/**
 * @param {number[]} words 32-bit words
 */
function words(...words) {
  const b = Buffer.allocUnsafe(words.length * 4);
  words.forEach((w, i) => b.writeUInt32BE(w >>> 0, i * 4));
  return b;
}

/**
 * Encodes a frame into one message part (canonical form: reserved bits 0).
 * @param {Frame} f
 * @returns {Buffer}
 */
export function encodeFrame(f) {
  const flags = f.flags ?? 0;
  switch (f.type) {
    case 'DATA': {
      const out = Buffer.allocUnsafe(HEADER_SIZE + f.data.length);
      out.writeUInt32BE(f.streamId & 0x7fffffff, 0);
      out[4] = flags;
      out.writeUIntBE(f.data.length, 5, 3);
      f.data.copy(out, HEADER_SIZE);
      return out;
    }
    case 'SYN_STREAM': {
      const fixed = Buffer.alloc(10);
      fixed.writeUInt32BE(f.streamId & 0x7fffffff, 0);
      fixed.writeUInt32BE(f.associatedStreamId & 0x7fffffff, 4);
      fixed[8] = (f.priority & 7) << 5;
      fixed[9] = f.slot & 0xff;
      return control(TYPE.SYN_STREAM, flags, Buffer.concat([fixed, encodeBlock(f.headers)]));
    }
    case 'SYN_REPLY':
    case 'HEADERS':
      return control(TYPE[f.type], flags, Buffer.concat([words(f.streamId & 0x7fffffff), encodeBlock(f.headers)]));
    case 'RST_STREAM':
      return control(TYPE.RST_STREAM, flags, words(f.streamId & 0x7fffffff, f.statusCode));
    case 'SETTINGS': {
      const p = Buffer.allocUnsafe(4 + 8 * f.entries.length);
      p.writeUInt32BE(f.entries.length, 0);
      f.entries.forEach((e, i) => {
        p[4 + 8 * i] = (e.flags ?? 0) & 0xff;
        p.writeUIntBE(e.id & 0xffffff, 5 + 8 * i, 3);
        p.writeUInt32BE(e.value >>> 0, 8 + 8 * i);
      });
      return control(TYPE.SETTINGS, flags, p);
    }
    case 'PING':
      return control(TYPE.PING, flags, words(f.id));
    case 'GOAWAY':
      return control(TYPE.GOAWAY, flags, words(f.lastGoodStreamId & 0x7fffffff, f.statusCode));
    case 'WINDOW_UPDATE':
      return control(TYPE.WINDOW_UPDATE, flags, words(f.streamId & 0x7fffffff, f.deltaWindowSize & 0x7fffffff));
    case 'HELLO':
      return control(
        TYPE.HELLO,
        flags,
        Buffer.concat([
          words((f.version & 0xffff) << 16, f.maxConcurrentStreams, f.initialWindowSize & 0x7fffffff),
          encodeBlock(f.attributes),
        ]),
      );
    case 'WELCOME':
      return control(
        TYPE.WELCOME,
        flags,
        Buffer.concat([
          words((f.version & 0xffff) << 16, f.heartbeatIntervalMs, f.heartbeatLiveness, f.initialWindowSize & 0x7fffffff),
          encodeBlock(f.attributes),
        ]),
      );
    case 'UNKNOWN':
      return control(f.frameType & 0xffff, flags, f.payload);
    default:
      throw new TypeError(`cannot encode frame type ${/** @type {any} */ (f).type}`);
  }
}

/**
 * A short human-readable description of a frame, for logs and test failures.
 * @param {Frame} f
 */
export function describeFrame(f) {
  switch (f.type) {
    case 'DATA':
      return `DATA(${f.streamId}${f.flags & FLAG_FIN ? ', FIN' : ''}, ${f.data.length} bytes)`;
    case 'SYN_STREAM':
    case 'SYN_REPLY':
    case 'HEADERS':
      return `${f.type}(${f.streamId}${f.flags & FLAG_FIN ? ', FIN' : ''})`;
    case 'RST_STREAM':
      return `RST_STREAM(${f.streamId}, ${rstName(f.statusCode)})`;
    case 'GOAWAY':
      return `GOAWAY(${f.lastGoodStreamId}, ${goawayName(f.statusCode)})`;
    case 'PING':
      return `PING(${f.id})`;
    case 'WINDOW_UPDATE':
      return `WINDOW_UPDATE(${f.streamId}, ${f.deltaWindowSize})`;
    case 'SETTINGS':
      return `SETTINGS(${f.entries.map((e) => `${codeName(SETTING, e.id)}=${e.value}`).join(', ')})`;
    case 'UNKNOWN':
      return `UNKNOWN(type ${f.frameType})`;
    default:
      return f.type;
  }
}
