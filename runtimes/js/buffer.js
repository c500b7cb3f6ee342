// Node's Buffer for functions: the `buffer` package, with its base64 and hex codecs on SpiderMonkey's native
// Uint8Array.fromBase64 / toBase64 / fromHex / toHex. The package does them in JavaScript, which StarlingMonkey
// interprets at ~1 s a megabyte (a base64 function-URL body of 2 MB outlived a 3 s timeout); natively a megabyte
// takes ~4 ms. Input the native codecs refuse (Node's decoding is lenient: it skips stray characters and takes
// either base64 alphabet) goes to the package's own code, so results are Node's either way. Node's `base64url`,
// which the package lacks, is added: Buffer.from, toString, isEncoding and byteLength, and write and fill (as base64,
// whose decoder in the package takes either alphabet, as Node's base64url decoder does).
import pkg from './node_modules/buffer/index.js';

const { Buffer } = pkg;

if (typeof Uint8Array.fromBase64 === 'function' && typeof Uint8Array.prototype.toBase64 === 'function') {
  const from = Buffer.from;
  Buffer.from = function (value, encodingOrOffset, length) {
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
    if (name === 'base64' || name === 'base64url' || name === 'hex') {
      // Node's clamping of start and end.
      const first = start === undefined ? 0 : Math.max(0, Math.trunc(Number(start)) || 0);
      const last = end === undefined ? this.length : Math.min(this.length, Math.trunc(Number(end)) || 0);
      if (last <= first) return '';
      const view = new Uint8Array(this.buffer, this.byteOffset + first, last - first);
      if (name === 'base64') return view.toBase64();
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
Buffer.prototype.write = function () {
  return write.apply(this, asBase64(arguments));
};
const fill = Buffer.prototype.fill;
Buffer.prototype.fill = function () {
  return fill.apply(this, asBase64(arguments));
};

export const { SlowBuffer, INSPECT_MAX_BYTES, kMaxLength } = pkg;
export { Buffer };
export default pkg;
