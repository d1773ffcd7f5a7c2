//! Whether Go's regexp (RE2 syntax, Go 1.19, which Vulcand v0.9.2 is built
//! with) accepts a pattern: parsed by `regex-syntax`, then the syntax tree is
//! searched for what Rust accepts and Go refuses. Vulcand compiles a rewrite
//! regexp only when it builds the frontend: one it refuses takes the route
//! down (404), so havok checks it before writing.
//!
//! Known gap: Go takes a `{` that starts no repetition (`a{`, `{,3}`) and
//! octal escapes (`\012`) literally, where `regex-syntax` refuses them; such
//! a pattern is refused by havok although Vulcand would take it.

use regex_syntax::ast::{
    self, Assertion, AssertionKind, Ast, ClassSet, ClassSetBinaryOp, ClassSetItem,
    ClassUnicodeKind, Flag, Flags, FlagsItemKind, GroupKind, HexLiteralKind, LiteralKind,
    RepetitionKind, RepetitionRange,
};

/// Go's limit on a counted repetition (`{1000}`).
const GO_MAX_REPEAT: u32 = 1000;

/// Go's Unicode general categories (`\pL`, `\p{Lu}`); scripts (`\p{Greek}`) also pass.
const GO_CATEGORIES: [&str; 37] = [
    "Any", "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn",
    "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm",
    "So", "Z", "Zl", "Zp", "Zs",
];

/// Unicode properties Rust knows and Go does not (Go has categories and scripts only).
const RUST_ONLY_PROPERTIES: [&str; 12] = [
    "Alphabetic",
    "Alpha",
    "White_Space",
    "Whitespace",
    "Emoji",
    "Uppercase",
    "Lowercase",
    "Math",
    "Numeric",
    "Digit",
    "Word",
    "Letter",
];

/// Whether Go's RE2 accepts `pattern`; else why not.
pub fn check(pattern: &str) -> Result<(), String> {
    let pattern = unquote(pattern);
    let tree = ast::parse::Parser::new()
        .parse(&pattern)
        .map_err(|e| format!("{}", e.kind()))?;
    ast::visit(&tree, GoSyntax)
}

/// Go's `\Q…\E` (quoted text, to `\E` or the end) as escaped literals.
fn unquote(pattern: &str) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(at) = rest.find("\\Q") {
        out.push_str(&rest[..at]);
        let quoted = &rest[at + 2..];
        let (text, after) = quoted.split_once("\\E").unwrap_or((quoted, ""));
        out.push_str(&regex_syntax::escape(text));
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Walks the tree and refuses what only Rust accepts.
struct GoSyntax;

fn flags_ok(flags: &Flags) -> Result<(), String> {
    for item in &flags.items {
        if let FlagsItemKind::Flag(flag) = &item.kind {
            match flag {
                Flag::CaseInsensitive
                | Flag::MultiLine
                | Flag::DotMatchesNewLine
                | Flag::SwapGreed => {}
                other => return Err(format!("flag {other:?} is Rust's; Go's are i, m, s and U")),
            }
        }
    }
    Ok(())
}

impl ast::Visitor for GoSyntax {
    type Output = ();
    type Err = String;

    fn finish(self) -> Result<(), String> {
        Ok(())
    }

    fn visit_pre(&mut self, tree: &Ast) -> Result<(), String> {
        match tree {
            Ast::Flags(set) => flags_ok(&set.flags),
            Ast::Group(group) => match &group.kind {
                GroupKind::NonCapturing(flags) => flags_ok(flags),
                GroupKind::CaptureName {
                    starts_with_p: false,
                    name,
                } => Err(format!(
                    "(?<{}>…) is Rust's; Go 1.19 wants (?P<{}>…)",
                    name.name, name.name
                )),
                _ => Ok(()),
            },
            Ast::Assertion(a) => assertion_ok(a),
            Ast::Literal(lit) => match lit.kind {
                LiteralKind::HexFixed(HexLiteralKind::X)
                | LiteralKind::HexBrace(HexLiteralKind::X) => Ok(()),
                LiteralKind::HexFixed(_) | LiteralKind::HexBrace(_) => {
                    Err("\\u and \\U escapes are Rust's; Go wants \\x{…}".into())
                }
                _ => Ok(()),
            },
            Ast::Repetition(rep) if matches!(*rep.ast, Ast::Repetition(_)) => {
                Err("a repetition of a repetition (a**, a{2}+) is refused by Go".into())
            }
            Ast::Repetition(rep) => match &rep.op.kind {
                RepetitionKind::Range(
                    RepetitionRange::Exactly(n)
                    | RepetitionRange::AtLeast(n)
                    | RepetitionRange::Bounded(_, n),
                ) if *n > GO_MAX_REPEAT => Err(format!("a repetition above {GO_MAX_REPEAT}")),
                _ => Ok(()),
            },
            Ast::ClassUnicode(class) => unicode_ok(&class.kind),
            Ast::ClassBracketed(class) => match &class.kind {
                ClassSet::BinaryOp(op) => binary_op(op),
                ClassSet::Item(_) => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), String> {
        match item {
            ClassSetItem::Bracketed(_) => {
                Err("a class inside a class is Rust's; Go reads [ there literally".into())
            }
            ClassSetItem::Unicode(class) => unicode_ok(&class.kind),
            _ => Ok(()),
        }
    }

    fn visit_class_set_binary_op_pre(&mut self, op: &ClassSetBinaryOp) -> Result<(), String> {
        binary_op(op)
    }
}

fn binary_op(_: &ClassSetBinaryOp) -> Result<(), String> {
    Err("class operations (&&, --, ~~) are Rust's".into())
}

fn assertion_ok(a: &Assertion) -> Result<(), String> {
    match a.kind {
        AssertionKind::StartLine
        | AssertionKind::EndLine
        | AssertionKind::StartText
        | AssertionKind::EndText
        | AssertionKind::WordBoundary
        | AssertionKind::NotWordBoundary => Ok(()),
        _ => Err("\\b{…}, \\< and \\> are Rust's; Go has \\b and \\B".into()),
    }
}

fn unicode_ok(kind: &ClassUnicodeKind) -> Result<(), String> {
    match kind {
        ClassUnicodeKind::OneLetter(_) => Ok(()),
        ClassUnicodeKind::Named(name)
            if GO_CATEGORIES.contains(&name.as_str())
                || (!RUST_ONLY_PROPERTIES.contains(&name.as_str())
                    && name.len() > 2
                    && name.starts_with(|c: char| c.is_ascii_uppercase())
                    && name.chars().all(|c| c.is_ascii_alphabetic() || c == '_')) =>
        {
            Ok(())
        }
        ClassUnicodeKind::Named(name) => {
            Err(format!("\\p{{{name}}} is not a Go category or script"))
        }
        ClassUnicodeKind::NamedValue { .. } => Err("\\p{name=value} is Rust's".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    /// Each row: a pattern and whether Go 1.19's regexp accepts it.
    #[test]
    fn go_syntax() {
        #[rustfmt::skip]
        let cases = [
            ("^http://([^/]+)/(.*)$", true),
            ("(?P<host>[a-z.]+)", true),
            ("(?i)ABC(?s:.)(?U)a+", true),
            ("[[:alpha:]\\d]+\\pL\\p{Greek}\\p{Lu}", true),
            ("\\x{41}\\x41\\.\\-", true),
            ("a{2,1000}", true),
            ("\\Qa.b\\E+", true),
            ("\\Qa.b", true),
            ("\\bfoo\\B", true),
            ("(?<name>a)", false),
            ("(?x) a b", false),
            ("(?u:a)", false),
            ("(?R)a", false),
            ("[a-z&&[^x]]", false),
            ("[a[bc]]", false),
            ("\\<word\\>", false),
            ("\\b{start}a", false),
            ("a{1001}", false),
            ("\\u0041", false),
            ("\\p{Alphabetic}", false),
            ("\\p{sc=Greek}", false),
            ("(a", false),
            ("a)", false),
            ("a**", false),
            ("a{2}+", false),
            ("(a*)*", true),
            ("a*?", true),
            ("(?=a)", false),
            ("\\1", false),
            ("*", false),
        ];
        for (pattern, ok) in cases {
            assert_eq!(
                check(pattern).is_ok(),
                ok,
                "{pattern}: {:?}",
                check(pattern)
            );
        }
    }
}
