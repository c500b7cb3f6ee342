// Node's Buffer for functions: the `buffer` package, with its UTF-8, base64 and hex codecs on SpiderMonkey's native
// TextEncoder / TextDecoder and Uint8Array.fromBase64 / toBase64 / fromHex / toHex. The package does them in JavaScript, which StarlingMonkey
// interprets at ~1 s a megabyte (a base64 function-URL body of 2 MB outlived a 3 s timeout); natively a megabyte
// takes ~4 ms. Input the native codecs refuse (Node's decoding is lenient: it skips stray characters and takes
// either base64 alphabet) goes to the package's own code, so results are Node's either way. Node's `base64url`,
// which the package lacks, is added: Buffer.from, toString, isEncoding and byteLength, and write and fill (as base64,
// whose decoder in the package takes either alphabet, as Node's base64url decoder does).
import pkg from './node_modules/buffer/index.js';

const { Buffer } = pkg;

// UTF-8, the default encoding, through the engine's native TextEncoder/TextDecoder (the package's loops take ~1 s a
// megabyte interpreted). Node's rules hold: a lone surrogate encodes as U+FFFD, an invalid sequence decodes to
// U+FFFD, and a byte-order mark is kept.
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const isUtf8 = (encoding) =>
  encoding === undefined ||
  (typeof encoding === 'string' && (encoding.toLowerCase() === 'utf8' || encoding.toLowerCase() === 'utf-8'));

if (typeof Uint8Array.fromBase64 === 'function' && typeof Uint8Array.prototype.toBase64 === 'function') {
  const from = Buffer.from;
  Buffer.from = function (value, encodingOrOffset, length) {
    if (typeof value === 'string' && isUtf8(encodingOrOffset)) {
      const bytes = encoder.encode(value);
      return from.call(this, bytes.buffer, bytes.byteOffset, bytes.length);
    }
    if (typeof value === 'string' && typeof encodingOrOffset === 'string') {
      const encoding = encodingOrOffset.toLowerCase();
      let bytes;
      try {
        if (encoding === 'base64' || encoding === 'base64url') {
          bytes = Uint8Array.fromBase64(value, { alphabet: encoding, lastChunkHandling: 'loose' });
        } else if (encoding === 'hex') {
          // Node decodes pairs up to the first that is not hex (the package's parseInt takes "0g" for 0).
          bytes = Uint8Array.fromHex(/^(?:[0-9a-fA-F]{2})*/.exec(value)[0]);
        }
      } catch {
        bytes = undefined;
      }
      if (bytes !== undefined) return from.call(this, bytes.buffer, bytes.byteOffset, bytes.length);
      // The package's base64 decoder takes both alphabets, as Node's base64url decoder does.
      if (encoding === 'base64url') return from.call(this, value, 'base64');
    }
    return from.call(this, value, encodingOrOffset, length);
  };

  const toString = Buffer.prototype.toString;
  Buffer.prototype.toString = function (encoding, start, end) {
    const name = typeof encoding === 'string' ? encoding.toLowerCase() : '';
    if (isUtf8(encoding) || name === 'base64' || name === 'base64url' || name === 'hex') {
      // Node's clamping of start and end.
      const first = start === undefined ? 0 : Math.max(0, Math.trunc(Number(start)) || 0);
      const last = end === undefined ? this.length : Math.min(this.length, Math.trunc(Number(end)) || 0);
      if (last <= first) return '';
      const view = new Uint8Array(this.buffer, this.byteOffset + first, last - first);
      if (name === 'base64') return view.toBase64();
      if (name !== 'base64url' && name !== 'hex') return decoder.decode(view);
      if (name === 'base64url') return view.toBase64({ alphabet: 'base64url', omitPadding: true });
      return view.toHex();
    }
    return toString.apply(this, arguments);
  };
}

const isBase64Url = (encoding) => typeof encoding === 'string' && encoding.toLowerCase() === 'base64url';

const isEncoding = Buffer.isEncoding;
Buffer.isEncoding = (encoding) => isBase64Url(encoding) || isEncoding(encoding);

// The package's base64 length rule, which counts the unpadded url-safe form the same way.
const byteLength = Buffer.byteLength;
Buffer.byteLength = function (string, encoding) {
  if (typeof string === 'string' && isBase64Url(encoding)) return byteLength.call(this, string, 'base64');
  return byteLength.apply(this, arguments);
};

// write(string, [offset, [length,]] encoding) and fill(value, [offset, [end,]] encoding): the encoding is any argument
// after the first (the data itself, which may well be the text "base64url").
const asBase64 = (args) => Array.prototype.map.call(args, (arg, i) => (i > 0 && isBase64Url(arg) ? 'base64' : arg));
const write = Buffer.prototype.write;
Buffer.prototype.write = function (string, offset, length, encoding) {
  // Node's forms: write(s), write(s, encoding), write(s, offset[, encoding]), write(s, offset, length[, encoding]).
  let at = offset;
  let room = length;
  let name = encoding;
  if (typeof offset === 'string') [at, room, name] = [0, undefined, offset];
  else if (typeof length === 'string') [room, name] = [undefined, length];
  if (typeof string === 'string' && isUtf8(name) && (at === undefined || Number.isInteger(at))) {
    const start = at === undefined ? 0 : at;
    if (start >= 0 && start <= this.length) {
      const end = room === undefined ? this.length : Math.min(this.length, start + Math.max(0, room >>> 0));
      return encoder.encodeInto(string, this.subarray(start, end)).written;
    }
  }
  return write.apply(this, asBase64(arguments));
};
const fill = Buffer.prototype.fill;
Buffer.prototype.fill = function () {
  return fill.apply(this, asBase64(arguments));
};

export const { SlowBuffer, INSPECT_MAX_BYTES, kMaxLength } = pkg;
export { Buffer };
export default pkg;
