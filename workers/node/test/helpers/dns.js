// A tiny authoritative DNS server for tests, over UDP on 127.0.0.1: it answers
// A, AAAA and SRV questions from a zone the test changes while it runs, and
// can answer SERVFAIL or NXDOMAIN instead. The few record types needed are
// encoded by hand (RFC 1035 §4.1, RFC 2782); answers never need truncation.
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';

export const TYPE = { A: 1, AAAA: 28, SRV: 33 };
const TYPE_NAME = { 1: 'A', 28: 'AAAA', 33: 'SRV' };
export const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 };

/**
 * @typedef {object} Entry  what the server knows about one name
 * @property {string[]} [A]
 * @property {string[]} [AAAA]
 * @property {{target: string, port: number, priority?: number, weight?: number}[]} [SRV]
 * @property {number} [ttl]       TTL of every record (default 0)
 * @property {'SERVFAIL' | 'NXDOMAIN' | 'REFUSED'} [rcode]  answer this instead of the records
 *
 * @typedef {object} Query
 * @property {string} name   lower case, without the final dot
 * @property {string} type   A, AAAA, SRV or the type number
 * @property {number} at     performance.now() at receipt
 */

/** Encodes a domain name as labels (no compression). @param {string} name */
function encodeName(name) {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
}

/** @param {string} ip */
function ipv6Bytes(ip) {
  const [head, tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/**
 * One resource record whose owner is the question name (pointer 0xC00C).
 * @param {number} type @param {number} ttl @param {Buffer} rdata
 */
function record(type, ttl, rdata) {
  const rr = Buffer.alloc(12);
  rr.writeUInt16BE(0xc00c, 0);
  rr.writeUInt16BE(type, 2);
  rr.writeUInt16BE(1, 4); // class IN
  rr.writeUInt32BE(ttl, 6);
  rr.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([rr, rdata]);
}

export class DnsServer extends EventEmitter {
  constructor() {
    super();
    this.sock = dgram.createSocket('udp4');
    /** @type {Map<string, Entry>} */
    this.zone = new Map();
    /** @type {Query[]} */
    this.queries = [];
    this.address = '';
    /** when true, queries are recorded but never answered (a nameserver that times out) */
    this.silent = false;
  }

  static async start() {
    const s = new DnsServer();
    s.sock.on('message', (msg, rinfo) => s._onMessage(msg, rinfo));
    await new Promise((resolve) => s.sock.bind(0, '127.0.0.1', () => resolve(undefined)));
    s.address = `127.0.0.1:${s.sock.address().port}`;
    return s;
  }

  /**
   * Sets (or, with undefined, removes) what the server answers for `name`.
   * @param {string} name @param {Entry | undefined} entry
   */
  set(name, entry) {
    const key = name.toLowerCase().replace(/\.$/, '');
    if (entry) this.zone.set(key, entry);
    else this.zone.delete(key);
  }

  /** Queries received for a name (and type), for assertions. @param {string} name @param {string} [type] */
  queriesFor(name, type) {
    return this.queries.filter((q) => q.name === name && (!type || q.type === type));
  }

  /** @param {Buffer} msg @param {dgram.RemoteInfo} rinfo */
  _onMessage(msg, rinfo) {
    if (msg.length < 12 || (msg[2] & 0x80) !== 0 || msg.readUInt16BE(4) !== 1) return;
    let off = 12;
    const labels = [];
    while (off < msg.length && msg[off] !== 0) {
      const len = msg[off];
      labels.push(msg.subarray(off + 1, off + 1 + len).toString('ascii'));
      off += 1 + len;
    }
    off += 1;
    if (off + 4 > msg.length) return;
    const qtype = msg.readUInt16BE(off);
    const questionEnd = off + 4;
    const name = labels.join('.').toLowerCase();
    const type = TYPE_NAME[/** @type {1 | 28 | 33} */ (qtype)] ?? String(qtype);
    /** @type {Query} */
    const q = { name, type, at: performance.now() };
    this.queries.push(q);
    if (this.silent) {
      this.emit('query', q);
      return;
    }
    const entry = this.zone.get(name);
    /** @type {Buffer[]} */
    const answers = [];
    let rcode = RCODE.NOERROR;
    if (!entry) rcode = RCODE.NXDOMAIN;
    else if (entry.rcode) rcode = RCODE[entry.rcode];
    else {
      const ttl = entry.ttl ?? 0;
      if (type === 'A') {
        for (const ip of entry.A ?? []) answers.push(record(TYPE.A, ttl, Buffer.from(ip.split('.').map(Number))));
      } else if (type === 'AAAA') {
        for (const ip of entry.AAAA ?? []) answers.push(record(TYPE.AAAA, ttl, ipv6Bytes(ip)));
      } else if (type === 'SRV') {
        for (const srv of entry.SRV ?? []) {
          const fixed = Buffer.alloc(6);
          fixed.writeUInt16BE(srv.priority ?? 10, 0);
          fixed.writeUInt16BE(srv.weight ?? 10, 2);
          fixed.writeUInt16BE(srv.port, 4);
          answers.push(record(TYPE.SRV, ttl, Buffer.concat([fixed, encodeName(srv.target)])));
        }
      }
    }
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0); // id
    // QR, opcode 0, AA, RD copied, RA, rcode
    header[2] = 0x84 | (msg[2] & 0x01);
    header[3] = 0x80 | rcode;
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const reply = Buffer.concat([header, msg.subarray(12, questionEnd), ...answers]);
    this.sock.send(reply, rinfo.port, rinfo.address, () => this.emit('query', q));
  }

  /**
   * Waits until `pred` holds for the queries received so far (checked after each answer is sent).
   * @param {(queries: Query[]) => boolean} pred
   */
  until(pred) {
    if (pred(this.queries)) return Promise.resolve();
    return new Promise((resolve) => {
      const on = () => {
        if (pred(this.queries)) {
          this.off('query', on);
          resolve(undefined);
        }
      };
      this.on('query', on);
    });
  }

  close() {
    this.sock.close();
  }
}
