//! etcd's v2 keys API on the wire: how keys become URLs, how values become
//! form bodies, and what etcd's answers and error bodies look like
//! (etcd `server/etcdserver/api/v2http`, `v2error`, `v2store`).

use std::fmt;

use reqwest::StatusCode;
use serde::Deserialize;

/// etcd v2 error codes havok acts on (etcd `server/etcdserver/api/v2error/error.go`).
pub const KEY_NOT_FOUND: u32 = 100;
/// A `prevValue` or `prevIndex` condition did not hold.
pub const COMPARE_FAILED: u32 = 101;
pub const NODE_EXISTS: u32 = 105;
pub const DIR_NOT_EMPTY: u32 = 108;
/// The watch index asked for is older than the 1000 events etcd keeps.
pub const EVENT_INDEX_CLEARED: u32 = 401;

/// etcd's v2 error body: `{"errorCode":105,"message":"Key already exists","cause":"/a","index":4}`.
/// Auth failures carry only `message`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EtcdError {
    #[serde(rename = "errorCode", default)]
    pub code: Option<u32>,
    pub message: String,
    #[serde(default)]
    pub cause: Option<String>,
    #[serde(default)]
    pub index: Option<u64>,
}

impl fmt::Display for EtcdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(cause) = self.cause.as_deref().filter(|c| !c.is_empty()) {
            write!(f, " ({cause})")?;
        }
        if let Some(code) = self.code {
            write!(f, ", errorCode {code}")?;
        }
        Ok(())
    }
}

/// Parses an error answer: etcd's JSON when it is that, else a short reason
/// naming the HTTP status and the start of the body.
pub fn parse_error(status: StatusCode, body: &[u8]) -> Result<EtcdError, String> {
    if let Ok(error) = serde_json::from_slice::<EtcdError>(body) {
        return Ok(error);
    }
    let text: String = String::from_utf8_lossy(body)
        .trim()
        .chars()
        .take(200)
        .collect();
    let hint = if status == StatusCode::NOT_FOUND {
        ": is etcd's v2 API enabled (etcd 3.4+ needs --enable-v2=true)?"
    } else {
        ""
    };
    Err(format!("HTTP {status} {text:?}{hint}"))
}

/// One node of a keys-API answer: a key with its value, or a directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Node {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub dir: bool,
    #[serde(default)]
    pub nodes: Vec<Node>,
    #[serde(rename = "modifiedIndex", default)]
    pub modified_index: u64,
    /// Seconds left of an expiring key.
    #[serde(default)]
    pub ttl: Option<u64>,
}

impl Node {
    /// The last segment of the key: the id of a backend, server or route.
    pub fn name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or("")
    }

    /// The direct child called `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name() == name)
    }

    /// How many keys (not directories) this tree holds.
    pub fn keys(&self) -> u64 {
        if self.dir {
            self.nodes.iter().map(Node::keys).sum()
        } else {
            1
        }
    }
}

#[derive(Deserialize)]
pub struct Answer {
    /// `get`, `set`, `create`, `delete`, `expire`…: what Vulcand's v2 watch acts on.
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub node: Node,
}

/// The form body of a write: `value=<json>` and, for expiring keys, `ttl=<secs>`.
pub fn write_form(value: &str, ttl: Option<u64>) -> Vec<(&'static str, String)> {
    let mut form = vec![("value", value.to_string())];
    if let Some(ttl) = ttl {
        form.push(("ttl", ttl.to_string()));
    }
    form
}

/// `http://m:2379` + `/vulcand/backends/b 1/backend` → `http://m:2379/v2/keys/vulcand/backends/b%201/backend`.
pub fn key_url(member: &str, key: &str) -> String {
    format!(
        "{}/v2/keys{}",
        member.trim_end_matches('/'),
        encode_key(key)
    )
}

/// Percent-encodes each segment of a key (etcd decodes the path back), so
/// node names and ids with spaces, `?`, `#` or `%` stay one segment of one key.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 1);
    for segment in key.trim_start_matches('/').split('/') {
        out.push('/');
        encode_segment(segment, &mut out);
    }
    out
}

fn encode_segment(segment: &str, out: &mut String) {
    for b in segment.bytes() {
        // RFC 3986 unreserved characters stay; everything else is %XX.
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row: a key and its encoded URL path; one segment stays one segment.
    #[test]
    fn keys_are_encoded_per_segment() {
        let cases = [
            (
                "/vulcand/backends/foo-local.0a1b/backend",
                "/vulcand/backends/foo-local.0a1b/backend",
            ),
            (
                "/havok/nodes/node a/servers",
                "/havok/nodes/node%20a/servers",
            ),
            ("/havok/nodes/a?b#c%d/x", "/havok/nodes/a%3Fb%23c%25d/x"),
            ("/havok/nodes/ünï/x", "/havok/nodes/%C3%BCn%C3%AF/x"),
            ("/vulcand/backends/b/", "/vulcand/backends/b/"),
            ("vulcand", "/vulcand"),
            ("/a&b=c+d", "/a%26b%3Dc%2Bd"),
        ];
        for (key, want) in cases {
            assert_eq!(encode_key(key), want, "{key}");
        }
        assert_eq!(
            key_url("http://127.0.0.1:2379/", "/havok/routes/x y"),
            "http://127.0.0.1:2379/v2/keys/havok/routes/x%20y"
        );
    }

    /// Each row: a value and TTL, and the form body reqwest sends for them.
    #[test]
    fn form_bodies_escape_values() {
        let cases: [(&str, Option<u64>, &str); 4] = [
            (
                r#"{"Type":"http"}"#,
                None,
                "value=%7B%22Type%22%3A%22http%22%7D",
            ),
            (
                r#"{"URL":"http://10.0.0.5:32768"}"#,
                Some(30),
                "value=%7B%22URL%22%3A%22http%3A%2F%2F10.0.0.5%3A32768%22%7D&ttl=30",
            ),
            (
                "Host(`a-1.local`) && PathRegexp(`/.*`)",
                None,
                "value=Host%28%60a-1.local%60%29+%26%26+PathRegexp%28%60%2F.*%60%29",
            ),
            ("a=b&ttl=1", Some(5), "value=a%3Db%26ttl%3D1&ttl=5"),
        ];
        let client = reqwest::Client::new();
        for (value, ttl, want) in cases {
            let req = client
                .put("http://127.0.0.1:2379/v2/keys/k")
                .form(&write_form(value, ttl))
                .build()
                .unwrap();
            let body = req.body().and_then(|b| b.as_bytes()).unwrap();
            assert_eq!(std::str::from_utf8(body).unwrap(), want, "{value}");
            assert_eq!(
                req.headers()["content-type"],
                "application/x-www-form-urlencoded"
            );
        }
    }

    /// What an error answer parses into: etcd's code and text, or the start of the fallback reason.
    type Parsed = Result<(Option<u32>, &'static str), &'static str>;

    /// Each row: an error answer and the reason the operator reads.
    #[test]
    fn error_bodies_are_parsed() {
        let cases: [(u16, &str, Parsed); 6] = [
            (
                412,
                r#"{"errorCode":105,"message":"Key already exists","cause":"/a/b","index":4}"#,
                Ok((Some(105), "Key already exists (/a/b), errorCode 105")),
            ),
            (
                403,
                r#"{"errorCode":108,"message":"Directory not empty","cause":"/a","index":4}"#,
                Ok((Some(108), "Directory not empty (/a), errorCode 108")),
            ),
            (
                404,
                r#"{"errorCode":100,"message":"Key not found","cause":"/nope","index":5}"#,
                Ok((Some(100), "Key not found (/nope), errorCode 100")),
            ),
            (
                401,
                r#"{"message":"Insufficient credentials"}"#,
                Ok((None, "Insufficient credentials")),
            ),
            (
                404,
                "404 page not found\n",
                Err("HTTP 404 Not Found \"404 page not found\": is etcd's v2 API enabled"),
            ),
            (
                502,
                "<html>bad gateway</html>",
                Err("HTTP 502 Bad Gateway \"<html>"),
            ),
        ];
        for (status, body, want) in cases {
            let got = parse_error(StatusCode::from_u16(status).unwrap(), body.as_bytes());
            match (got, want) {
                (Ok(e), Ok((code, text))) => {
                    assert_eq!(e.code, code, "{body}");
                    assert_eq!(e.to_string(), text, "{body}");
                }
                (Err(reason), Err(text)) => assert!(reason.starts_with(text), "{reason}"),
                (got, _) => panic!("{body}: unexpected {got:?}"),
            }
        }
    }

    /// A tree counts its keys, not its directories, and finds children by name.
    #[test]
    fn nodes() {
        let tree: Answer = serde_json::from_str(
            r#"{"action":"get","node":{"key":"/v/backends/b","dir":true,"nodes":[
                {"key":"/v/backends/b/backend","value":"{}","modifiedIndex":3},
                {"key":"/v/backends/b/servers","dir":true,"nodes":[
                    {"key":"/v/backends/b/servers/s1","value":"{}"},
                    {"key":"/v/backends/b/servers/s2","value":"{}"}]}]}}"#,
        )
        .unwrap();
        assert_eq!(tree.node.keys(), 3);
        assert_eq!(tree.node.child("backend").unwrap().modified_index, 3);
        assert_eq!(tree.node.child("servers").unwrap().nodes[1].name(), "s2");
        assert!(tree.node.child("frontend").is_none());
    }
}
