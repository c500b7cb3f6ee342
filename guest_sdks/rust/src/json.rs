//! A tiny JSON helper: string quoting, top-level field lookup in an object, and object/array writers.
//!
//! ```ignore
//! let name = wasmfaas::json::get_string(event, "name");          // Option<String>, escapes decoded
//! let n = wasmfaas::json::get_number(event, "count");            // Option<f64>
//! let body = wasmfaas::json::Object::new().string("greeting", "hi").int("n", 3).finish();
//! ```
//!
//! Lookups scan the text without building a tree, and read only up to the key they find; the first occurrence of a
//! repeated key wins. For anything bigger, bring a real JSON library.

use std::fmt::Write;

/// `s` as a JSON string literal, quotes included.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_quoted(&mut out, s);
    out
}

/// Append `s` to `out` as a JSON string literal, quotes included.
pub fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    let mut plain = 0; // start of the run of characters that need no escape
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            '\0'..='\u{1f}' => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        if escape.is_empty() {
            // Not write!: its formatting machinery made a string of control characters ~3 MB/s.
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let b = c as usize;
            out.push_str("\\u00");
            out.push(HEX[b >> 4] as char);
            out.push(HEX[b & 15] as char);
        } else {
            out.push_str(escape);
        }
        plain = i + c.len_utf8();
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

/// The string value of the top-level `key` of the JSON object `json`, decoded (escapes resolved; invalid UTF-8 and
/// lone surrogates become U+FFFD). `None` if `json` is not an object, the key is absent, its value is not a string,
/// or the JSON up to it is malformed.
pub fn get_string(json: &[u8], key: &str) -> Option<String> {
    let at = find(json, key)?;
    if json.get(at) != Some(&b'"') {
        return None;
    }
    let mut out = Vec::new();
    parse_string(json, at + 1, Some(&mut out))?;
    Some(match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// The number value of the top-level `key` of the JSON object `json`; `None` if absent, not a number per JSON's grammar
/// (`01`, `1.`, `+1`, `.5`, `1.5x` are not), or malformed.
pub fn get_number(json: &[u8], key: &str) -> Option<f64> {
    let at = find(json, key)?;
    let end = number_end(json, at)?;
    // What follows must end the value: `01` is not 0 followed by garbage, it is not a number.
    if !matches!(json.get(end), None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b'}' | b']')) {
        return None;
    }
    // The grammar just checked is a subset of what f64's parser accepts, and it is ASCII.
    std::str::from_utf8(&json[at..end]).ok()?.parse().ok()
}

/// The boolean value of the top-level `key` of the JSON object `json`; `None` if absent or not a boolean.
pub fn get_bool(json: &[u8], key: &str) -> Option<bool> {
    let at = find(json, key)?;
    let rest = &json[at..];
    if rest.starts_with(b"true") {
        Some(true)
    } else if rest.starts_with(b"false") {
        Some(false)
    } else {
        None
    }
}

/// Writes a JSON object, field by field: `Object::new().string("a", "x").int("b", 1).finish()` is `{"a":"x","b":1}`.
#[derive(Debug, Clone)]
pub struct Object {
    buf: String,
    empty: bool,
}

impl Default for Object {
    fn default() -> Object {
        Object::new()
    }
}

impl Object {
    /// An empty object.
    pub fn new() -> Object {
        Object { buf: String::from("{"), empty: true }
    }

    fn key(&mut self, key: &str) -> &mut String {
        if !self.empty {
            self.buf.push(',');
        }
        self.empty = false;
        push_quoted(&mut self.buf, key);
        self.buf.push(':');
        &mut self.buf
    }

    /// A string field.
    pub fn string(mut self, key: &str, value: &str) -> Object {
        push_quoted(self.key(key), value);
        self
    }

    /// An integer field.
    pub fn int(mut self, key: &str, value: i64) -> Object {
        let _ = write!(self.key(key), "{}", value);
        self
    }

    /// An unsigned integer field.
    pub fn uint(mut self, key: &str, value: u64) -> Object {
        let _ = write!(self.key(key), "{}", value);
        self
    }

    /// A number field; NaN and infinities (not JSON) are written as null.
    pub fn number(mut self, key: &str, value: f64) -> Object {
        push_number(self.key(key), value);
        self
    }

    /// A boolean field.
    pub fn bool(mut self, key: &str, value: bool) -> Object {
        self.key(key).push_str(if value { "true" } else { "false" });
        self
    }

    /// A null field.
    pub fn null(mut self, key: &str) -> Object {
        self.key(key).push_str("null");
        self
    }

    /// A field whose value is already JSON (say a nested `Object` or `Array`'s output); not checked.
    pub fn raw(mut self, key: &str, json: &str) -> Object {
        self.key(key).push_str(json);
        self
    }

    /// The object's text.
    pub fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

/// Writes a JSON array, element by element: `Array::new().string("x").int(1).finish()` is `["x",1]`.
#[derive(Debug, Clone)]
pub struct Array {
    buf: String,
    empty: bool,
}

impl Default for Array {
    fn default() -> Array {
        Array::new()
    }
}

impl Array {
    /// An empty array.
    pub fn new() -> Array {
        Array { buf: String::from("["), empty: true }
    }

    fn next(&mut self) -> &mut String {
        if !self.empty {
            self.buf.push(',');
        }
        self.empty = false;
        &mut self.buf
    }

    /// A string element.
    pub fn string(mut self, value: &str) -> Array {
        push_quoted(self.next(), value);
        self
    }

    /// An integer element.
    pub fn int(mut self, value: i64) -> Array {
        let _ = write!(self.next(), "{}", value);
        self
    }

    /// A number element; NaN and infinities are written as null.
    pub fn number(mut self, value: f64) -> Array {
        push_number(self.next(), value);
        self
    }

    /// A boolean element.
    pub fn bool(mut self, value: bool) -> Array {
        self.next().push_str(if value { "true" } else { "false" });
        self
    }

    /// A null element.
    pub fn null(mut self) -> Array {
        self.next().push_str("null");
        self
    }

    /// An element that is already JSON; not checked.
    pub fn raw(mut self, json: &str) -> Array {
        self.next().push_str(json);
        self
    }

    /// The array's text.
    pub fn finish(mut self) -> String {
        self.buf.push(']');
        self.buf
    }
}

fn push_number(out: &mut String, value: f64) {
    if value.is_finite() {
        // Debug is the shortest text that reads back as the same f64, and always valid JSON ("1.0", "1e300").
        let _ = write!(out, "{:?}", value);
    } else {
        out.push_str("null");
    }
}

// ---- scanning: each function takes the text and a position, and returns the position after what it read ----------

fn ws(s: &[u8], mut i: usize) -> usize {
    while matches!(s.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

fn hex4(s: &[u8], i: usize) -> Option<u32> {
    let digits = s.get(i..i + 4)?;
    let mut v = 0;
    for &c in digits {
        v = v << 4 | (c as char).to_digit(16)?;
    }
    Some(v)
}

/// A string body starting at `i` (just after its opening quote), decoded into `out` if given; returns the position
/// after the closing quote.
fn parse_string(s: &[u8], mut i: usize, mut out: Option<&mut Vec<u8>>) -> Option<usize> {
    loop {
        let c = *s.get(i)?;
        i += 1;
        match c {
            b'"' => return Some(i),
            0..=0x1f => return None,
            b'\\' => {
                let e = *s.get(i)?;
                i += 1;
                let cp = match e {
                    b'"' => 0x22,
                    b'\\' => 0x5c,
                    b'/' => 0x2f,
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => 0x0a,
                    b'r' => 0x0d,
                    b't' => 0x09,
                    b'u' => {
                        let hi = hex4(s, i)?;
                        i += 4;
                        let lo = if s.get(i) == Some(&b'\\') && s.get(i + 1) == Some(&b'u') {
                            hex4(s, i + 2)
                        } else {
                            None
                        };
                        match (hi, lo) {
                            (0xD800..=0xDBFF, Some(lo @ 0xDC00..=0xDFFF)) => {
                                i += 6;
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            }
                            _ => hi, // a lone surrogate fails char::from_u32 below and becomes U+FFFD
                        }
                    }
                    _ => return None,
                };
                if let Some(out) = out.as_deref_mut() {
                    let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
            }
            _ => {
                if let Some(out) = out.as_deref_mut() {
                    out.push(c);
                }
            }
        }
    }
}

/// A number, per JSON's grammar.
fn number_end(s: &[u8], mut i: usize) -> Option<usize> {
    let digits = |mut i: usize| {
        while matches!(s.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
        i
    };
    if s.get(i) == Some(&b'-') {
        i += 1;
    }
    match s.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = digits(i),
        _ => return None,
    }
    if s.get(i) == Some(&b'.') {
        let end = digits(i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits(i);
        if end == i {
            return None;
        }
        i = end;
    }
    Some(i)
}

/// Skip one value of any kind. Nesting is tracked by counting brackets outside strings, not checked pairwise.
fn skip(s: &[u8], mut i: usize) -> Option<usize> {
    match *s.get(i)? {
        b'"' => parse_string(s, i + 1, None),
        b'{' | b'[' => {
            let mut depth = 0usize;
            while let Some(&c) = s.get(i) {
                if c == b'"' {
                    i = parse_string(s, i + 1, None)?;
                    continue;
                }
                i += 1;
                match c {
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i);
                        }
                    }
                    _ => {}
                }
            }
            None
        }
        b'-' | b'0'..=b'9' => number_end(s, i),
        _ => ["true", "false", "null"]
            .iter()
            .find(|word| s[i..].starts_with(word.as_bytes()))
            .map(|word| i + word.len()),
    }
}

/// Position of the value of top-level `key` in the object `s`, or `None` (absent, or not an object).
fn find(s: &[u8], key: &str) -> Option<usize> {
    let mut i = ws(s, 0);
    if s.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(s, i + 1);
    if s.get(i) == Some(&b'}') {
        return None;
    }
    let mut name = Vec::new();
    loop {
        if s.get(i) != Some(&b'"') {
            return None;
        }
        name.clear();
        i = parse_string(s, i + 1, Some(&mut name))?;
        i = ws(s, i);
        if s.get(i) != Some(&b':') {
            return None;
        }
        i = ws(s, i + 1);
        if name == key.as_bytes() {
            return if i < s.len() { Some(i) } else { None };
        }
        i = ws(s, skip(s, i)?);
        if s.get(i) != Some(&b',') {
            return None; // '}' (the end) or malformed
        }
        i = ws(s, i + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(quote("plain"), r#""plain""#);
        assert_eq!(quote("a\"b\\c\n\r\t\u{8}\u{c}\u{1f}é€😀"), "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u001fé€😀\"");
    }

    #[test]
    fn lookups() {
        let json = br#" { "a" : [1, {"name": "inner"}, "]"], "n\u0061me": "w\u00e9\"x\ud83d\ude00", "x": -1.5e2,
                         "t": true, "name": "second" } "#;
        assert_eq!(get_string(json, "name").as_deref(), Some("wé\"x😀"));
        assert_eq!(get_number(json, "x"), Some(-150.0));
        assert_eq!(get_bool(json, "t"), Some(true));
        assert_eq!(get_string(json, "x"), None);
        assert_eq!(get_string(json, "missing"), None);
        assert_eq!(get_string(br#"["name"]"#, "name"), None);
        assert_eq!(get_string(br#"{"name": "\ud800"}"#, "name").as_deref(), Some("\u{FFFD}"));
        assert_eq!(get_string(b"{\"name\": \"\xff\"}", "name").as_deref(), Some("\u{FFFD}"));
        assert_eq!(get_string(br#"{"name": "unterminated}"#, "name"), None);
        assert_eq!(get_number(br#"{"n": 01}"#, "n"), None); // not JSON, as in every SDK
        assert_eq!(get_number(br#"{"n": 1.5x, "m": 1}"#, "n"), None);
        assert_eq!(get_number(br#"{"n": 1.}"#, "n"), None);
        assert_eq!(get_number(br#"{"n":2}"#, "n"), Some(2.0));
        assert_eq!(get_number(br#"{"n": 2 ,"m": 1}"#, "n"), Some(2.0));
        assert_eq!(get_number(br#"{"n": 2"#, "n"), Some(2.0)); // the value ends, though the object does not
    }

    #[test]
    fn writers() {
        let inner = Array::new().string("x").int(-1).number(0.5).number(f64::NAN).bool(false).null().finish();
        let obj = Object::new().string("s", "\"").int("i", 7).uint("u", u64::MAX).number("f", 3.0).raw("a", &inner);
        assert_eq!(
            obj.bool("b", true).null("z").finish(),
            r#"{"s":"\"","i":7,"u":18446744073709551615,"f":3.0,"a":["x",-1,0.5,null,false,null],"b":true,"z":null}"#
        );
        assert_eq!(Object::new().finish(), "{}");
        assert_eq!(Array::default().finish(), "[]");
    }
}
