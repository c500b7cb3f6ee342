// A small JSON toolkit for handlers: escaping strings into a response, and reading the top-level string and number
// fields of an event (its UTF-8 bytes, read in place). Not a full parser: the scan checks JSON's grammar up to the
// field it finds, and skips other values by counting brackets outside strings.

const QUOTE: u32 = 0x22;
const BACKSLASH: u32 = 0x5C;
const REPLACEMENT: u32 = 0xFFFD;

// nextChar's results (AssemblyScript functions return one value): the code point and the position after it.
let charCp: u32 = 0;
let charPos: usize = 0;
// keyEnd's result: whether the key it read equals the one looked for.
let keyMatched = false;

function skipWs(p: usize, end: usize): usize {
  while (p < end) {
    const c = load<u8>(p);
    if (c != 0x20 && c != 0x09 && c != 0x0A && c != 0x0D) break;
    p++;
  }
  return p;
}

/** The value of four hex digits at p, or -1. */
function hex4(p: usize, end: usize): i32 {
  if (end - p < 4) return -1;
  let v: i32 = 0;
  for (let i = 0; i < 4; i++) {
    const c = <i32>load<u8>(p + i);
    v <<= 4;
    if (c >= 0x30 && c <= 0x39) v |= c - 0x30;
    else if (c >= 0x61 && c <= 0x66) v |= c - 0x61 + 10;
    else if (c >= 0x41 && c <= 0x46) v |= c - 0x41 + 10;
    else return -1;
  }
  return v;
}

/**
 * The UTF-8 sequence at [p, end), p < end: its length if valid (no overlong form, surrogate or code point over
 * U+10FFFF), else minus the length of its maximal invalid prefix, which decodes to one U+FFFD (as Unicode recommends).
 */
function utf8Len(p: usize, end: usize): i32 {
  const c = <u32>load<u8>(p);
  if (c < 0x80) return 1;
  let len: i32;
  let lo: u32 = 0x80;
  let hi: u32 = 0xBF; // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return -1;
  }
  let i = 1;
  while (i < len && p + i < end) {
    const b = <u32>load<u8>(p + i);
    if (i == 1 ? b < lo || b > hi : (b & 0xC0) != 0x80) break;
    i++;
  }
  return i == len ? len : -i;
}

/**
 * Decode the next character of a string body at p into charCp and charPos. Returns 1 for a character, 0 at the
 * closing quote (charPos is past it), -1 if malformed. Invalid UTF-8 and lone surrogate escapes become U+FFFD.
 */
function nextChar(p: usize, end: usize): i32 {
  if (p >= end) return -1;
  const c = <u32>load<u8>(p);
  if (c == QUOTE) {
    charPos = p + 1;
    return 0;
  }
  if (c < 0x20) return -1;
  if (c >= 0x80) {
    const len = utf8Len(p, end);
    if (len < 0) {
      charCp = REPLACEMENT;
      charPos = p - len;
      return 1;
    }
    let cp: u32 = len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (let i = 1; i < len; i++) cp = (cp << 6) | (<u32>load<u8>(p + i) & 0x3F);
    charCp = cp;
    charPos = p + len;
    return 1;
  }
  if (c != BACKSLASH) {
    charCp = c;
    charPos = p + 1;
    return 1;
  }
  if (p + 1 >= end) return -1;
  const e = <u32>load<u8>(p + 1);
  let next = p + 2;
  let cp: u32;
  if (e == QUOTE || e == BACKSLASH || e == 0x2F) cp = e;
  else if (e == 0x62) cp = 0x08; // \b
  else if (e == 0x66) cp = 0x0C; // \f
  else if (e == 0x6E) cp = 0x0A; // \n
  else if (e == 0x72) cp = 0x0D; // \r
  else if (e == 0x74) cp = 0x09; // \t
  else if (e == 0x75) { // \uXXXX, maybe a surrogate pair of two escapes
    const u = hex4(next, end);
    if (u < 0) return -1;
    cp = <u32>u;
    next += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF && end - next >= 6 && load<u8>(next) == BACKSLASH && load<u8>(next + 1) == 0x75) {
      const lo = hex4(next + 2, end);
      if (lo >= 0xDC00 && lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (<u32>lo - 0xDC00);
        next += 6;
      }
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = REPLACEMENT;
  } else {
    return -1;
  }
  charCp = cp;
  charPos = next;
  return 1;
}

/** The position after the number at p, per JSON's grammar, or 0. */
function numberEnd(p: usize, end: usize): usize {
  if (p < end && load<u8>(p) == 0x2D) p++; // -
  if (p >= end) return 0;
  let c = load<u8>(p);
  if (c == 0x30) {
    p++;
  } else if (c >= 0x31 && c <= 0x39) {
    while (p < end && isDigit(load<u8>(p))) p++;
  } else {
    return 0;
  }
  if (p < end && load<u8>(p) == 0x2E) { // .
    p++;
    if (p >= end || !isDigit(load<u8>(p))) return 0;
    while (p < end && isDigit(load<u8>(p))) p++;
  }
  if (p < end && (load<u8>(p) | 0x20) == 0x65) { // e or E
    p++;
    if (p < end && (load<u8>(p) == 0x2B || load<u8>(p) == 0x2D)) p++;
    if (p >= end || !isDigit(load<u8>(p))) return 0;
    while (p < end && isDigit(load<u8>(p))) p++;
  }
  return p;
}

/** Whether `c` may follow a value: whitespace, a comma, or the end of an object or array. */
function endsValue(c: u8): bool {
  return c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x2C || c == 0x7D || c == 0x5D;
}

function isDigit(c: u8): bool {
  return c >= 0x30 && c <= 0x39;
}

function startsWith(p: usize, end: usize, word: string): bool {
  const n = word.length;
  if (end - p < <usize>n) return false;
  for (let i = 0; i < n; i++) if (<u32>load<u8>(p + i) != <u32>word.charCodeAt(i)) return false;
  return true;
}

/** The position after the value at p (of any kind), or 0 if malformed. */
function skipValue(p: usize, end: usize): usize {
  if (p >= end) return 0;
  const c = load<u8>(p);
  if (c == QUOTE) {
    let q = p + 1;
    let r: i32;
    while ((r = nextChar(q, end)) > 0) q = charPos;
    return r == 0 ? charPos : 0;
  }
  if (c == 0x7B || c == 0x5B) { // { or [
    let depth = 0;
    while (p < end) {
      const b = load<u8>(p);
      if (b == QUOTE) {
        p = skipValue(p, end);
        if (p == 0) return 0;
        continue;
      }
      p++;
      if (b == 0x7B || b == 0x5B) depth++;
      else if ((b == 0x7D || b == 0x5D) && --depth == 0) return p;
    }
    return 0;
  }
  if (c == 0x2D || isDigit(c)) return numberEnd(p, end);
  if (startsWith(p, end, "true") || startsWith(p, end, "null")) return p + 4;
  if (startsWith(p, end, "false")) return p + 5;
  return 0;
}

/** Read the string (key) at p, its opening quote: the position after it (or 0), and keyMatched = (it equals key). */
function keyEnd(p: usize, end: usize, key: string): usize {
  if (p >= end || load<u8>(p) != QUOTE) return 0;
  let q = p + 1;
  let k = 0;
  const n = key.length;
  let equal = true;
  let r: i32;
  while ((r = nextChar(q, end)) > 0) {
    q = charPos;
    if (!equal) continue;
    const cp = charCp;
    if (cp >= 0x10000) {
      const hi = 0xD800 + ((cp - 0x10000) >> 10);
      const lo = 0xDC00 + ((cp - 0x10000) & 0x3FF);
      equal = k + 1 < n && <u32>key.charCodeAt(k) == hi && <u32>key.charCodeAt(k + 1) == lo;
      k += 2;
    } else {
      equal = k < n && <u32>key.charCodeAt(k) == cp;
      k += 1;
    }
  }
  if (r < 0) return 0;
  keyMatched = equal && k == n;
  return charPos;
}

/** The position of the value of the top-level `key` in the object [p, end), or 0 (absent, or not an object). */
function find(p: usize, end: usize, key: string): usize {
  p = skipWs(p, end);
  if (p >= end || load<u8>(p) != 0x7B) return 0;
  p = skipWs(p + 1, end);
  if (p < end && load<u8>(p) == 0x7D) return 0;
  while (true) {
    p = keyEnd(p, end, key);
    if (p == 0) return 0;
    const matched = keyMatched;
    p = skipWs(p, end);
    if (p >= end || load<u8>(p) != 0x3A) return 0; // :
    p = skipWs(p + 1, end);
    if (matched) return p < end ? p : 0;
    p = skipValue(p, end);
    if (p == 0) return 0;
    p = skipWs(p, end);
    if (p >= end || load<u8>(p) != 0x2C) return 0; // '}' (the end) or malformed
    p = skipWs(p + 1, end);
  }
  return 0;
}

export namespace json {
  /** `s` as a JSON string literal: quoted, with `"`, `\` and control characters escaped. */
  export function quote(s: string): string {
    const src = changetype<usize>(s);
    const n = s.length;
    let size = n + 2;
    for (let i = 0; i < n; i++) {
      const c = <u32>load<u16>(src + (<usize>i << 1));
      if (c == QUOTE || c == BACKSLASH || c == 0x08 || c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D) size += 1;
      else if (c < 0x20) size += 5;
    }
    const out = __new(<usize>size << 1, idof<String>());
    let o = out;
    store<u16>(o, QUOTE);
    o += 2;
    for (let i = 0; i < n; i++) {
      const c = <u32>load<u16>(src + (<usize>i << 1));
      let esc: u32 = 0;
      if (c == QUOTE || c == BACKSLASH) esc = c;
      else if (c == 0x08) esc = 0x62;
      else if (c == 0x09) esc = 0x74;
      else if (c == 0x0A) esc = 0x6E;
      else if (c == 0x0C) esc = 0x66;
      else if (c == 0x0D) esc = 0x72;
      if (esc != 0) {
        store<u16>(o, BACKSLASH);
        store<u16>(o, esc, 2);
        o += 4;
      } else if (c < 0x20) {
        // \u00XX
        store<u64>(o, 0x0030_0030_0075_005C);
        store<u16>(o, hexDigit(c >> 4), 8);
        store<u16>(o, hexDigit(c & 15), 10);
        o += 12;
      } else {
        store<u16>(o, c);
        o += 2;
      }
    }
    store<u16>(o, QUOTE);
    return changetype<string>(out);
  }

  /**
   * The string value of the top-level `key` of the JSON object in `data` (UTF-8), decoded; null if the key is absent,
   * its value is not a string, or the JSON up to it is malformed. The first of repeated keys wins.
   */
  export function getString(data: Uint8Array, key: string): string | null {
    const start = data.dataStart;
    const end = start + <usize>data.byteLength;
    const p = find(start, end, key);
    if (p == 0 || load<u8>(p) != QUOTE) return null;
    // Two passes: check and measure, then decode into a string of exactly the right size.
    let q = p + 1;
    let units = 0;
    let r: i32;
    while ((r = nextChar(q, end)) > 0) {
      units += charCp >= 0x10000 ? 2 : 1;
      q = charPos;
    }
    if (r < 0) return null;
    const out = __new(<usize>units << 1, idof<String>());
    let o = out;
    q = p + 1;
    while (nextChar(q, end) > 0) {
      const cp = charCp;
      if (cp >= 0x10000) {
        store<u16>(o, 0xD800 + ((cp - 0x10000) >> 10));
        store<u16>(o, 0xDC00 + ((cp - 0x10000) & 0x3FF), 2);
        o += 4;
      } else {
        store<u16>(o, cp);
        o += 2;
      }
      q = charPos;
    }
    return changetype<string>(out);
  }

  /**
   * The number value of the top-level `key` of the JSON object in `data`; NaN (which JSON cannot express) if the key
   * is absent, its value is not a number, or the JSON up to it is malformed.
   */
  export function getNumber(data: Uint8Array, key: string): f64 {
    const start = data.dataStart;
    const end = start + <usize>data.byteLength;
    const p = find(start, end, key);
    if (p == 0) return NaN;
    const q = numberEnd(p, end);
    // What follows must end the value: "01" or "1.5x" is not a number.
    if (q == 0 || (q < end && !endsValue(load<u8>(q)))) return NaN;
    return parseFloat(String.UTF8.decodeUnsafe(p, q - p));
  }
}

function hexDigit(v: u32): u32 {
  return v < 10 ? 0x30 + v : 0x61 + v - 10;
}
