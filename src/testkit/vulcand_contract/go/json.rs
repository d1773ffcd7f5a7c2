//! Go's `encoding/json` as Vulcand's API shows it: the scanner's syntax
//! errors, `json.Marshal`'s HTML escaping, and the kind names of type errors.

/// The error Go's `json.Unmarshal` gives for a document that is not JSON
/// (its scanner, `encoding/json/scanner.go`, runs before any decoding), or
/// `None` when `b` is valid JSON.
pub fn json_syntax_error(b: &[u8]) -> Option<String> {
    let mut scan = Scan { b, i: 0 };
    scan.value().and_then(|()| scan.end()).err()
}

/// Go's `json.Marshal` output for `value`: like serde_json's, but with `<`,
/// `>`, `&`, U+2028 and U+2029 escaped (Go's HTMLEscape default), so a route
/// comes back as ``Host(`a`) \u0026\u0026 …`` as Vulcand sends it. Those
/// characters only occur inside JSON strings, so replacing them is safe.
pub fn marshal(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value)
        .expect("serializable")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Go's kind name for a JSON value in `json: cannot unmarshal <kind> into …`.
pub fn kind(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

const EOF: &str = "unexpected end of JSON input";

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Result<u8, String> {
        let c = self.peek().ok_or(EOF)?;
        self.i += 1;
        Ok(c)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<(), String> {
        self.skip_space();
        match self.peek().ok_or(EOF)? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            c => Err(invalid(c, "looking for beginning of value")),
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), String> {
        self.i += 1;
        for expected in word.bytes().skip(1) {
            let c = self.next()?;
            if c != expected {
                return Err(format!(
                    "invalid character {} in literal {word} (expecting {})",
                    quote(c),
                    quote(expected)
                ));
            }
        }
        Ok(())
    }

    fn object(&mut self) -> Result<(), String> {
        self.i += 1;
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.skip_space();
            match self.peek().ok_or(EOF)? {
                b'"' => self.string()?,
                c => return Err(invalid(c, "looking for beginning of object key string")),
            }
            self.skip_space();
            match self.next()? {
                b':' => {}
                c => return Err(invalid(c, "after object key")),
            }
            self.value()?;
            self.skip_space();
            match self.next()? {
                b',' => {}
                b'}' => return Ok(()),
                c => return Err(invalid(c, "after object key:value pair")),
            }
        }
    }

    fn array(&mut self) -> Result<(), String> {
        self.i += 1;
        self.skip_space();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.value()?;
            self.skip_space();
            match self.next()? {
                b',' => {}
                b']' => return Ok(()),
                c => return Err(invalid(c, "after array element")),
            }
        }
    }

    fn string(&mut self) -> Result<(), String> {
        self.i += 1;
        loop {
            match self.next()? {
                b'"' => return Ok(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        for _ in 0..4 {
                            let c = self.next()?;
                            if !c.is_ascii_hexdigit() {
                                return Err(invalid(c, "in \\u hexadecimal character escape"));
                            }
                        }
                    }
                    c => return Err(invalid(c, "in string escape code")),
                },
                c if c < 0x20 => return Err(invalid(c, "in string literal")),
                _ => {}
            }
        }
    }

    fn number(&mut self) -> Result<(), String> {
        if self.peek() == Some(b'-') {
            self.i += 1;
            match self.peek().ok_or(EOF)? {
                b'0'..=b'9' => {}
                c => return Err(invalid(c, "in numeric literal")),
            }
        }
        if self.next()? != b'0' {
            self.digits();
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            match self.peek().ok_or(EOF)? {
                b'0'..=b'9' => self.digits(),
                c => return Err(invalid(c, "after decimal point in numeric literal")),
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            match self.peek().ok_or(EOF)? {
                b'0'..=b'9' => self.digits(),
                c => return Err(invalid(c, "in exponent of numeric literal")),
            }
        }
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }

    fn end(&mut self) -> Result<(), String> {
        self.skip_space();
        match self.peek() {
            None => Ok(()),
            Some(c) => Err(invalid(c, "after top-level value")),
        }
    }
}

fn invalid(c: u8, context: &str) -> String {
    format!("invalid character {} {context}", quote(c))
}

/// Go's `quoteChar` (encoding/json/scanner.go): the byte as a rune, quoted.
fn quote(c: u8) -> String {
    let inner = match c {
        b'\'' => "\\'".to_string(),
        b'"' => "\"".to_string(),
        b'\\' => "\\\\".to_string(),
        0x07 => "\\a".into(),
        0x08 => "\\b".into(),
        0x0c => "\\f".into(),
        b'\n' => "\\n".into(),
        b'\r' => "\\r".into(),
        b'\t' => "\\t".into(),
        0x0b => "\\v".into(),
        0x20..=0x7e => (c as char).to_string(),
        0x00..=0x1f | 0x7f => format!("\\x{c:02x}"),
        // A byte above 0x7f is the rune U+0080..U+00FF; Go prints the
        // printable ones and escapes controls, NBSP and the soft hyphen.
        0x80..=0xa0 | 0xad => format!("\\u{c:04x}"),
        _ => (c as char).to_string(),
    };
    format!("'{inner}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row: a body and the error Go's json.Unmarshal gives for it.
    #[test]
    fn json_errors_match_go() {
        let cases: [(&str, Option<&str>); 9] = [
            ("{}", None),
            (" [1, -2.5e3, \"\\u00e9\", true, null] ", None),
            ("", Some("unexpected end of JSON input")),
            ("{\"a\":", Some("unexpected end of JSON input")),
            (
                "nope",
                Some("invalid character 'o' in literal null (expecting 'u')"),
            ),
            (
                "Backend=x",
                Some("invalid character 'B' looking for beginning of value"),
            ),
            (
                "{a}",
                Some("invalid character 'a' looking for beginning of object key string"),
            ),
            ("{\"a\" 1}", Some("invalid character '1' after object key")),
            ("{} x", Some("invalid character 'x' after top-level value")),
        ];
        for (body, want) in cases {
            assert_eq!(
                json_syntax_error(body.as_bytes()).as_deref(),
                want,
                "{body:?}"
            );
        }
    }
}
