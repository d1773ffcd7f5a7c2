//! Vulcand's two predicate grammars, checked as Vulcand v0.9.2 checks them
//! (vulcand/predicate over Go's expression syntax; oxy's `cbreaker` and
//! `buffer` functions), so havok never writes a condition Vulcand refuses.
//!
//! What the grammar accepts: Go literals, calls of the grammar's functions
//! with literal arguments of exactly their types, parentheses, `&&`, `||`
//! and the six comparisons, where the left side is a function's result and
//! the right side a literal of exactly its type (no int to float). `!`,
//! unary minus, identifiers and every other operator are refused.

/// The type of a literal or of a function's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Int,
    Float,
    Str,
}

/// What an expression is to the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Val {
    /// A predicate: what `&&`, `||` and the whole expression need.
    Pred,
    /// A function's result, the left side of a comparison.
    Mapper(Ty),
    /// A literal: a function's argument or the right side of a comparison.
    Lit(Ty),
}

/// One function of a grammar.
struct Func {
    name: &'static str,
    args: &'static [Ty],
    returns: Val,
}

/// A predicate grammar: its functions.
pub struct Grammar {
    funcs: &'static [Func],
}

/// `cbreaker.condition` (oxy `cbreaker/predicates.go`).
pub const CBREAKER: Grammar = Grammar {
    funcs: &[
        Func {
            name: "NetworkErrorRatio",
            args: &[],
            returns: Val::Mapper(Ty::Float),
        },
        Func {
            name: "LatencyAtQuantileMS",
            args: &[Ty::Float],
            returns: Val::Mapper(Ty::Int),
        },
        Func {
            name: "ResponseCodeRatio",
            args: &[Ty::Int, Ty::Int, Ty::Int, Ty::Int],
            returns: Val::Mapper(Ty::Float),
        },
    ],
};

/// `failover-predicate` (oxy `buffer/threshold.go`).
pub const FAILOVER: Grammar = Grammar {
    funcs: &[
        Func {
            name: "IsNetworkError",
            args: &[],
            returns: Val::Pred,
        },
        Func {
            name: "Attempts",
            args: &[],
            returns: Val::Mapper(Ty::Int),
        },
        Func {
            name: "ResponseCode",
            args: &[],
            returns: Val::Mapper(Ty::Int),
        },
        Func {
            name: "RequestMethod",
            args: &[],
            returns: Val::Mapper(Ty::Str),
        },
    ],
};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Lit(Ty),
    Op(&'static str),
    Open,
    Close,
    Comma,
}

/// Splits `text` into Go tokens, refusing those the grammar has no use for.
fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let rest: String = chars[i..].iter().take(2).collect();
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || chars[i] == '_'
                    || ((chars[i] == '+' || chars[i] == '-') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            let number: String = chars[start..i].iter().collect();
            out.push(Token::Lit(number_type(&number)?));
        } else if c == '"' || c == '`' {
            i = string_end(&chars, i)?;
            out.push(Token::Lit(Ty::Str));
        } else if c == '\'' {
            return Err("character literals are not supported".into());
        } else if let Some(op) = ["&&", "||", "==", "!=", "<=", ">="]
            .into_iter()
            .find(|op| rest == *op)
        {
            out.push(Token::Op(op));
            i += 2;
        } else {
            out.push(match c {
                '<' => Token::Op("<"),
                '>' => Token::Op(">"),
                '(' => Token::Open,
                ')' => Token::Close,
                ',' => Token::Comma,
                other => return Err(format!("{other} is not supported")),
            });
            i += 1;
        }
    }
    Ok(out)
}

/// The type of a Go number literal as the grammar reads it: an int must be
/// decimal digits (`strconv.Atoi`), a float a decimal float.
fn number_type(number: &str) -> Result<Ty, String> {
    if number.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Ty::Int);
    }
    let (mantissa, exponent) = match number.find(['e', 'E']) {
        Some(at) => (&number[..at], Some(&number[at + 1..])),
        None => (number, None),
    };
    let mantissa_ok = mantissa.bytes().filter(|&b| b == b'.').count() <= 1
        && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && mantissa.bytes().any(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    });
    if mantissa_ok && exponent_ok {
        Ok(Ty::Float)
    } else {
        Err(format!("number {number} is not a decimal int or float"))
    }
}

/// The index after the string literal that starts at `start`: a raw string
/// in backquotes, or an interpreted one with Go's escapes.
fn string_end(chars: &[char], start: usize) -> Result<usize, String> {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            c if c == quote => return Ok(i + 1),
            '\n' if quote == '"' => break,
            '\\' if quote == '"' => {
                let digits = |n: usize, radix: u32| {
                    chars.len() > i + n && chars[i + 2..i + 2 + n].iter().all(|c| c.is_digit(radix))
                };
                i += match chars.get(i + 1) {
                    Some('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\' | '"') => 2,
                    Some('x') if digits(2, 16) => 4,
                    Some('u') if digits(4, 16) => 6,
                    Some('U') if digits(8, 16) => 10,
                    Some('0'..='7')
                        if chars.len() > i + 3
                            && chars[i + 1..i + 4].iter().all(|c| c.is_digit(8)) =>
                    {
                        4
                    }
                    _ => return Err("a string has an unknown escape".into()),
                };
            }
            _ => i += 1,
        }
    }
    Err("a string is not closed".into())
}

/// A recursive-descent parser over the tokens, with Go's precedence:
/// `||` below `&&` below the comparisons.
struct Parser<'a> {
    grammar: &'a Grammar,
    tokens: Vec<Token>,
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn logical(&mut self, op: &'static str) -> Result<Val, String> {
        let mut left = if op == "||" {
            self.logical("&&")?
        } else {
            self.comparison()?
        };
        while self.peek() == Some(&Token::Op(op)) {
            self.at += 1;
            let right = if op == "||" {
                self.logical("&&")?
            } else {
                self.comparison()?
            };
            if left != Val::Pred || right != Val::Pred {
                return Err(format!("both sides of {op} must be predicates"));
            }
            left = Val::Pred;
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Result<Val, String> {
        let mut left = self.primary()?;
        while let Some(Token::Op(op)) = self.peek().cloned() {
            if op == "&&" || op == "||" {
                break;
            }
            self.at += 1;
            let right = self.primary()?;
            match (left, right) {
                (Val::Mapper(Ty::Str), Val::Lit(Ty::Str)) if op != "==" && op != "!=" => {
                    return Err(format!("{op} does not compare strings"))
                }
                (Val::Mapper(a), Val::Lit(b)) if a == b => left = Val::Pred,
                (Val::Mapper(a), Val::Lit(_)) => {
                    return Err(format!("{op} needs a{} literal on its right", article(a)))
                }
                _ => {
                    return Err(format!(
                        "{op} needs a function on its left and a literal on its right"
                    ))
                }
            }
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Val, String> {
        match self.next() {
            Some(Token::Lit(ty)) => Ok(Val::Lit(ty)),
            Some(Token::Open) => {
                let inner = self.logical("||")?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("a parenthesis is not closed".into()),
                }
            }
            Some(Token::Ident(name)) => self.call(&name),
            Some(other) => Err(format!("unexpected {other:?}")),
            None => Err("the expression ends too early".into()),
        }
    }

    fn call(&mut self, name: &str) -> Result<Val, String> {
        let Some(func) = self.grammar.funcs.iter().find(|f| f.name == name) else {
            return Err(format!("{name} is not a function of this grammar"));
        };
        if self.next() != Some(Token::Open) {
            return Err(format!("{name} must be called: {name}(…)"));
        }
        let mut args = Vec::new();
        if self.peek() != Some(&Token::Close) {
            loop {
                args.push(self.logical("||")?);
                if self.peek() != Some(&Token::Comma) {
                    break;
                }
                self.at += 1;
            }
        }
        if self.next() != Some(Token::Close) {
            return Err(format!("the call of {name} is not closed"));
        }
        let want: Vec<Val> = func.args.iter().map(|&ty| Val::Lit(ty)).collect();
        if args != want {
            let types: Vec<&str> = func.args.iter().map(|&ty| type_name(ty)).collect();
            return Err(format!("{name} takes ({}) literals", types.join(", ")));
        }
        Ok(func.returns)
    }
}

fn type_name(ty: Ty) -> &'static str {
    match ty {
        Ty::Int => "int",
        Ty::Float => "float",
        Ty::Str => "string",
    }
}

fn article(ty: Ty) -> String {
    match ty {
        Ty::Int => "n int".into(),
        other => format!(" {}", type_name(other)),
    }
}

/// Whether Vulcand accepts `text` in `grammar`; else why not.
pub fn check(grammar: &Grammar, text: &str) -> Result<(), String> {
    let mut parser = Parser {
        grammar,
        tokens: tokens(text)?,
        at: 0,
    };
    let value = parser.logical("||")?;
    if parser.at < parser.tokens.len() {
        return Err(format!("unexpected {:?}", parser.tokens[parser.at]));
    }
    match value {
        Val::Pred => Ok(()),
        _ => Err(
            "the whole expression must be a predicate (a comparison or IsNetworkError())".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row: a condition and whether Vulcand v0.9.2 accepts it (the
    /// refusals are cross-checked against the real API in `tests/it/settings.rs`).
    #[test]
    fn cbreaker_conditions() {
        #[rustfmt::skip]
        let cases = [
            ("NetworkErrorRatio() > 0.5", true),
            ("LatencyAtQuantileMS(50.0) > 50", true),
            ("ResponseCodeRatio(500, 600, 0, 600) > 0.5", true),
            ("(NetworkErrorRatio() > 0.5 || LatencyAtQuantileMS(99.9) >= 200) && ResponseCodeRatio(500,600,0,600) != 0.0", true),
            ("NetworkErrorRatio() > .5", true),
            ("NetworkErrorRatio() > 5e-1", true),
            ("LatencyAtQuantileMS(50) > 50", false),
            ("NetworkErrorRatio() > 1", false),
            ("LatencyAtQuantileMS(50.0) > 40.5", false),
            ("0.5 < NetworkErrorRatio()", false),
            ("NetworkErrorRatio() > -0.5", false),
            ("ResponseCodeRatio(500, 600, 0) > 0.5", false),
            ("NetworkErrorRatio() > 0.5 && LatencyAtQuantileMS(50.0)", false),
            ("networkerrorratio() > 0.5", false),
            ("NetworkErrorRatio > 0.5", false),
            ("NetworkErrorRatio() > 0x1", false),
            ("NetworkErrorRatio()", false),
            ("IsNetworkError()", false),
            ("NetworkErrorRatio() > 0.5 ||", false),
            ("(NetworkErrorRatio() > 0.5", false),
            ("", false),
        ];
        for (text, ok) in cases {
            assert_eq!(
                check(&CBREAKER, text).is_ok(),
                ok,
                "{text}: {:?}",
                check(&CBREAKER, text)
            );
        }
    }

    #[test]
    fn failover_predicates() {
        #[rustfmt::skip]
        let cases = [
            ("IsNetworkError()", true),
            ("IsNetworkError() && Attempts() <= 2", true),
            ("RequestMethod() == `GET` || ResponseCode() == 503", true),
            ("IsNetworkError() && RequestMethod() == \"GET\" && Attempts() < 20", true),
            ("RequestMethod() == \"G\\x45T\"", true),
            ("!IsNetworkError()", false),
            ("Attempts() < -1", false),
            ("RequestMethod() < \"GET\"", false),
            ("RequestMethod() == 'G'", false),
            ("Attempts() == 2.0", false),
            ("IsNetworkError() == true", false),
            ("Attempts()", false),
            ("RequestMethod() == \"GET", false),
            ("RequestMethod() == \"\\q\"", false),
            ("NetworkErrorRatio() > 0.5", false),
            ("Attempts() + 1 > 2", false),
        ];
        for (text, ok) in cases {
            assert_eq!(
                check(&FAILOVER, text).is_ok(),
                ok,
                "{text}: {:?}",
                check(&FAILOVER, text)
            );
        }
    }
}
