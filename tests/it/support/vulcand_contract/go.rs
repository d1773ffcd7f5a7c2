//! The Go library behaviours Vulcand's API answers depend on, reproduced for
//! the contract server: `encoding/json` syntax errors and output escaping,
//! `time.ParseDuration`, `net/url.ParseRequestURI`, and which route
//! expressions `vulcand/route` accepts.

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

/// Go's `time.ParseDuration` (time/format.go): `Ok` or its exact error.
pub fn parse_duration(orig: &str) -> Result<(), String> {
    let invalid = || format!("time: invalid duration \"{orig}\"");
    let mut s = orig.strip_prefix(['-', '+']).unwrap_or(orig);
    if s == "0" {
        return Ok(());
    }
    if s.is_empty() {
        return Err(invalid());
    }
    while !s.is_empty() {
        if !(s.starts_with('.') || s.starts_with(|c: char| c.is_ascii_digit())) {
            return Err(invalid());
        }
        let int = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let pre = int > 0;
        s = &s[int..];
        let mut post = false;
        if let Some(rest) = s.strip_prefix('.') {
            let frac = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            post = frac > 0;
            s = &rest[frac..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration \"{orig}\""));
        }
        let unit = &s[..unit_len];
        if !["ns", "us", "µs", "μs", "ms", "s", "m", "h"].contains(&unit) {
            return Err(format!(
                "time: unknown unit \"{unit}\" in duration \"{orig}\""
            ));
        }
        s = &s[unit_len..];
    }
    Ok(())
}

/// Whether Go's `url.ParseRequestURI` accepts `raw` (engine/model.go
/// NewServer refuses a server URL it rejects): an absolute URL or an
/// absolute path, no control characters, a numeric port, a host of URL
/// characters, valid percent escapes.
pub fn parse_request_uri(raw: &str) -> bool {
    if raw.is_empty() || raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return false;
    }
    // url.getScheme: letters, then letters, digits, `+-.`, up to a colon.
    let mut scheme_end = None;
    for (i, c) in raw.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return false, // "missing protocol scheme"
            ':' => {
                scheme_end = Some(i);
                break;
            }
            _ => break,
        }
    }
    let rest = match scheme_end {
        Some(i) => &raw[i + 1..],
        None => raw,
    };
    let rest = rest.split_once('?').map_or(rest, |(path, _)| path);
    if !rest.starts_with('/') {
        // "invalid URI for request" without a scheme; an opaque URL with one.
        return scheme_end.is_some();
    }
    let path = match rest.strip_prefix("//") {
        Some(after) if scheme_end.is_some() || !rest.starts_with("///") => {
            let (authority, path) = after.split_at(after.find('/').unwrap_or(after.len()));
            if !valid_authority(authority) {
                return false;
            }
            path
        }
        _ => rest,
    };
    valid_escapes(path)
}

fn valid_authority(authority: &str) -> bool {
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (name, port) = if let Some(bracketed) = host.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((_, "")) => return true,
            Some((_, after)) => match after.strip_prefix(':') {
                Some(port) => ("", port),
                None => return false,
            },
            None => return false, // "missing ']' in host"
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, port),
            None => (host, ""),
        }
    };
    port.bytes().all(|b| b.is_ascii_digit())
        && valid_escapes(name)
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric() || b >= 0x80 || b"-._~!$&'()*+,;=:[]<>\"%".contains(&b)
        })
}

fn valid_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Whether `vulcand/route` (parse.go) accepts a route expression: matchers
/// `Host`, `HostRegexp`, `Path`, `PathRegexp`, `Method` (one string each),
/// `Header`, `HeaderRegexp` (two), joined by `&&`, in parentheses or not;
/// strings in backquotes or double quotes; regexps that compile.
pub fn valid_route(expr: &str) -> bool {
    let mut p = Route {
        s: expr.as_bytes(),
        i: 0,
    };
    p.expr() && {
        p.skip_space();
        p.i == p.s.len()
    }
}

struct Route<'a> {
    s: &'a [u8],
    i: usize,
}

impl Route<'_> {
    fn skip_space(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.s[self.i..].starts_with(token.as_bytes()) {
            self.i += token.len();
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> bool {
        if !self.term() {
            return false;
        }
        while self.eat("&&") {
            if !self.term() {
                return false;
            }
        }
        true
    }

    fn term(&mut self) -> bool {
        if self.eat("(") {
            return self.expr() && self.eat(")");
        }
        self.skip_space();
        let start = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_alphanumeric) {
            self.i += 1;
        }
        let name = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        let (arity, regexp) = match name.as_str() {
            "Host" | "Path" | "Method" => (1, false),
            "HostRegexp" | "PathRegexp" => (1, true),
            "Header" => (2, false),
            "HeaderRegexp" => (2, true),
            _ => return false,
        };
        if !self.eat("(") {
            return false;
        }
        let mut args = Vec::new();
        for n in 0..arity {
            if n > 0 && !self.eat(",") {
                return false;
            }
            match self.string() {
                Some(arg) => args.push(arg),
                None => return false,
            }
        }
        self.eat(")") && (!regexp || args.last().is_some_and(|r| regex::Regex::new(r).is_ok()))
    }

    /// A Go string literal: `raw` or "interpreted" (escapes taken as written).
    fn string(&mut self) -> Option<String> {
        self.skip_space();
        let quote = *self.s.get(self.i)?;
        if quote != b'`' && quote != b'"' {
            return None;
        }
        let start = self.i + 1;
        let mut j = start;
        while *self.s.get(j)? != quote {
            if quote == b'"' && self.s[j] == b'\\' {
                j += 1;
            }
            j += 1;
        }
        self.i = j + 1;
        Some(String::from_utf8_lossy(&self.s[start..j]).into_owned())
    }
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

    #[test]
    fn durations_match_go() {
        assert_eq!(parse_duration("30s"), Ok(()));
        assert_eq!(parse_duration("1h2m3.5s"), Ok(()));
        assert_eq!(parse_duration("0"), Ok(()));
        assert_eq!(
            parse_duration("soon"),
            Err("time: invalid duration \"soon\"".into())
        );
        assert_eq!(
            parse_duration("30"),
            Err("time: missing unit in duration \"30\"".into())
        );
        assert_eq!(
            parse_duration("3d"),
            Err("time: unknown unit \"d\" in duration \"3d\"".into())
        );
    }

    #[test]
    fn request_uris_match_go() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://[::1]:80/x",
            "/path",
            "mailto:x",
        ] {
            assert!(parse_request_uri(ok), "{ok}");
        }
        for bad in [
            "",
            "not a url",
            "127.0.0.1:8080",
            "http://a b/",
            "http://h:port",
            "http://h/%zz",
        ] {
            assert!(!parse_request_uri(bad), "{bad}");
        }
    }

    #[test]
    fn routes_match_vulcand_route() {
        for ok in [
            "Host(`foo.local`) && PathRegexp(`/.*`)",
            "Host(`foo.local`)",
            "(Host(\"a\") && Path(`/`)) && Header(`X`, `y`)",
        ] {
            assert!(valid_route(ok), "{ok}");
        }
        for bad in [
            "",
            "Bogus(`/`)",
            "Host(`a`) &&",
            "PathRegexp(`(`)",
            "Host(`a`, `b`)",
        ] {
            assert!(!valid_route(bad), "{bad}");
        }
    }
}
