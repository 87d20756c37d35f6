//! Reading one command line token by token, with IOS keyword matching.
//!
//! Keywords match case-insensitively, and a unique prefix of a keyword stands for it, as on
//! an IOS console (`crypto map M 10 ipsec-is` is `ipsec-isakmp`). Every failure is a
//! [`Diagnostic`] pointing at the offending token, or at the end of the line when something
//! is missing, with the keywords that would have fitted and a near miss among them.

use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::diag::{Code, Diagnostic};
use crate::lex::{Line, Token};
use crate::model::mask_bits;
use crate::span::{Span, Spanned};
use crate::suggest;

/// A position in one line's tokens.
pub(crate) struct Cursor<'l, 'a> {
    pub line: &'l Line<'a>,
    pub pos: usize,
}

pub(crate) type Parsed<T> = Result<T, Box<Diagnostic>>;

/// How a token relates to a keyword list.
enum KeywordMatch {
    One(&'static str),
    Ambiguous(Vec<&'static str>),
    None,
}

fn match_keyword(word: &str, choices: &[&'static str]) -> KeywordMatch {
    if let Some(k) = choices.iter().find(|k| k.eq_ignore_ascii_case(word)) {
        return KeywordMatch::One(k);
    }
    let lower = word.to_ascii_lowercase();
    let prefixed: Vec<&'static str> = choices
        .iter()
        .copied()
        .filter(|k| k.to_ascii_lowercase().starts_with(&lower))
        .collect();
    match prefixed.len() {
        0 => KeywordMatch::None,
        1 => KeywordMatch::One(prefixed[0]),
        _ => KeywordMatch::Ambiguous(prefixed),
    }
}

/// Whether `word` is `keyword` or an abbreviation of it among `choices`.
pub(crate) fn is_keyword(word: &str, choices: &[&'static str]) -> Option<&'static str> {
    match match_keyword(word, choices) {
        KeywordMatch::One(k) => Some(k),
        _ => None,
    }
}

/// Whether `word` abbreviates several of `choices` (and so names none of them).
pub(crate) fn is_ambiguous(word: &str, choices: &[&'static str]) -> bool {
    matches!(match_keyword(word, choices), KeywordMatch::Ambiguous(_))
}

/// An "expected one of" error at `span` for `found`.
pub(crate) fn unexpected(
    span: Span,
    found: &str,
    what: &str,
    choices: &[&'static str],
) -> Box<Diagnostic> {
    let mut d = Diagnostic::error(
        Code::UnexpectedToken,
        span,
        format!("unexpected '{found}': expected {what}"),
    );
    d.expected = choices.iter().map(|s| s.to_string()).collect();
    d.suggestion = suggest::closest(found, choices.iter().copied()).map(str::to_owned);
    Box::new(d)
}

impl<'l, 'a> Cursor<'l, 'a> {
    pub fn new(line: &'l Line<'a>) -> Self {
        Cursor { line, pos: 0 }
    }

    pub fn peek(&self) -> Option<Token<'a>> {
        self.line.tokens.get(self.pos).copied()
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.line.tokens.len()
    }

    /// The span of the next token, or of the end of the line.
    pub fn here(&self) -> Span {
        self.peek().map_or_else(|| self.line.end_span(), |t| t.span)
    }

    /// The span of the token just consumed.
    pub fn prev_span(&self) -> Span {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.line.tokens.get(i))
            .map_or_else(|| self.line.end_span(), |t| t.span)
    }

    fn incomplete(&self, what: &str, choices: &[&'static str]) -> Box<Diagnostic> {
        let mut d = Diagnostic::error(
            Code::Incomplete,
            self.line.end_span(),
            format!("incomplete command: expected {what}"),
        );
        d.expected = choices.iter().map(|s| s.to_string()).collect();
        Box::new(d)
    }

    /// The next token, which must exist.
    pub fn word(&mut self, what: &str) -> Parsed<Spanned<String>> {
        let t = self.peek().ok_or_else(|| self.incomplete(what, &[]))?;
        self.pos += 1;
        Ok(Spanned::new(t.text.to_string(), t.span))
    }

    /// Everything from the next token to the end of the line, which must not be empty.
    pub fn rest(&mut self, what: &str) -> Parsed<Spanned<String>> {
        let first = self.peek().ok_or_else(|| self.incomplete(what, &[]))?;
        let text = self.line.rest_from(self.pos).to_string();
        let last = *self.line.tokens.last().expect("a token exists");
        self.pos = self.line.tokens.len();
        Ok(Spanned::new(text, first.span.to(last.span)))
    }

    /// One of `choices`, required.
    pub fn keyword(
        &mut self,
        what: &str,
        choices: &[&'static str],
    ) -> Parsed<Spanned<&'static str>> {
        let t = self.peek().ok_or_else(|| self.incomplete(what, choices))?;
        match match_keyword(t.text, choices) {
            KeywordMatch::One(k) => {
                self.pos += 1;
                Ok(Spanned::new(k, t.span))
            }
            KeywordMatch::Ambiguous(options) => {
                let mut d = Diagnostic::error(
                    Code::Ambiguous,
                    t.span,
                    format!(
                        "ambiguous command '{}': it abbreviates several keywords",
                        t.text
                    ),
                );
                d.expected = options.iter().map(|s| s.to_string()).collect();
                Err(Box::new(d))
            }
            KeywordMatch::None => Err(unexpected(t.span, t.text, what, choices)),
        }
    }

    /// One of `choices` if the next token is one; nothing consumed otherwise.
    pub fn opt_keyword(&mut self, choices: &[&'static str]) -> Option<Spanned<&'static str>> {
        let t = self.peek()?;
        match match_keyword(t.text, choices) {
            KeywordMatch::One(k) => {
                self.pos += 1;
                Some(Spanned::new(k, t.span))
            }
            _ => None,
        }
    }

    /// A number within `min..=max`.
    pub fn number<T>(&mut self, what: &str, min: T, max: T) -> Parsed<Spanned<T>>
    where
        T: FromStr + PartialOrd + Copy + std::fmt::Display,
    {
        let t = self.peek().ok_or_else(|| self.incomplete(what, &[]))?;
        match t.text.parse::<T>() {
            Ok(v) if v >= min && v <= max => {
                self.pos += 1;
                Ok(Spanned::new(v, t.span))
            }
            _ => Err(Box::new(Diagnostic::error(
                Code::InvalidValue,
                t.span,
                format!(
                    "invalid {what} '{}': expected a number from {min} to {max}",
                    t.text
                ),
            ))),
        }
    }

    /// Whether the next token is a number.
    pub fn next_is_number(&self) -> bool {
        self.peek()
            .is_some_and(|t| t.text.bytes().all(|b| b.is_ascii_digit()))
    }

    /// Whether the next token is an IPv4 address.
    pub fn next_is_ipv4(&self) -> bool {
        self.peek()
            .is_some_and(|t| t.text.parse::<Ipv4Addr>().is_ok())
    }

    /// An IPv4 address.
    pub fn ipv4(&mut self, what: &str) -> Parsed<Spanned<Ipv4Addr>> {
        let t = self.peek().ok_or_else(|| self.incomplete(what, &[]))?;
        let addr = t.text.parse::<Ipv4Addr>().map_err(|_| {
            Box::new(Diagnostic::error(
                Code::InvalidValue,
                t.span,
                format!(
                    "invalid {what} '{}': expected an IPv4 address (A.B.C.D)",
                    t.text
                ),
            ))
        })?;
        self.pos += 1;
        Ok(Spanned::new(addr, t.span))
    }

    /// A dotted network mask, returned as a prefix length; it must be contiguous.
    pub fn mask(&mut self, what: &str) -> Parsed<Spanned<u8>> {
        let m = self.ipv4(what)?;
        let bits = u32::from(m.value);
        let len = bits.leading_ones();
        if bits != mask_bits(len as u8) {
            return Err(Box::new(Diagnostic::error(
                Code::InvalidValue,
                m.span,
                format!(
                    "invalid {what} '{}': a mask must be contiguous ones then zeros",
                    m.value
                ),
            )));
        }
        Ok(Spanned::new(len as u8, m.span))
    }

    /// Fails if anything is left on the line.
    pub fn end(&self) -> Parsed<()> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(Box::new(Diagnostic::error(
                Code::UnexpectedToken,
                t.span,
                format!(
                    "unexpected '{}': the command is complete without it",
                    t.text
                ),
            ))),
        }
    }

    /// Fails at the end of the line unless one of `choices` follows; used where options loop.
    pub fn end_or(&self, what: &str, choices: &[&'static str]) -> Parsed<()> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(unexpected(t.span, t.text, what, choices)),
        }
    }
}

/// Parses hexadecimal key material.
pub(crate) fn hex_bytes(text: &Spanned<String>) -> Parsed<Vec<u8>> {
    let s = text.value.strip_prefix("0x").unwrap_or(&text.value);
    let bad = || {
        Box::new(Diagnostic::error(
            Code::InvalidValue,
            text.span,
            format!(
                "invalid key '{}': expected an even number of hexadecimal digits",
                text.value
            ),
        ))
    };
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return Err(bad());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| bad()))
        .collect()
}
