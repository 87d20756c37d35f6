//! Source positions.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// Where something was written: 1-based line and column, and its length in characters.
///
/// Spans are metadata: two spans always compare equal, so models parsed from differently
/// laid out text (the original file and its rendering) compare by content alone.
#[derive(Clone, Copy, Default)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column of the first character.
    pub col: u32,
    /// Length in characters (at least 1 for a token, 0 for "end of line").
    pub len: u32,
}

impl Span {
    /// A span at `line:col` of `len` characters.
    pub const fn new(line: u32, col: u32, len: u32) -> Self {
        Span { line, col, len }
    }

    /// The span from the start of `self` to the end of `other` (on the same line).
    pub fn to(self, other: Span) -> Span {
        if other.line != self.line || other.col < self.col {
            return self;
        }
        Span {
            line: self.line,
            col: self.col,
            len: other.col + other.len - self.col,
        }
    }
}

impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}

impl Eq for Span {}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A value with the span it was written at. Derefs to the value; compares by value only.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Pairs a value with its span.
    pub const fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }

    /// A value with no source position (built in code, not parsed).
    pub fn bare(value: T) -> Self {
        Spanned {
            value,
            span: Span::default(),
        }
    }

    /// The same position with the value turned into another.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Spanned<U> {
        Spanned {
            value: f(self.value),
            span: self.span,
        }
    }
}

impl<T> Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Spanned<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: fmt::Display> fmt::Display for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}
