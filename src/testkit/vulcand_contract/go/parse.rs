//! The text parsers of Vulcand's Go libraries that decide what it accepts:
//! `time.ParseDuration`, `net/url.ParseRequestURI` and `vulcand/route`.

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
