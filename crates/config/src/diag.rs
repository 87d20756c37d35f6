//! Diagnostics: `file:line:col: error|warning: message`, the offending line quoted with a
//! caret under the text, what was expected there, and a "did you mean" for near misses.

use std::fmt;

use crate::span::Span;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The configuration cannot be applied as written.
    Error,
    /// It can be applied, but probably not as meant.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// What kind of problem a diagnostic reports; stable, for tests and tooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// A command no mode knows.
    UnknownCommand,
    /// A keyword or value that does not fit at its position.
    UnexpectedToken,
    /// The command ends before it is complete.
    Incomplete,
    /// A number, address, mask or name that is malformed or out of range.
    InvalidValue,
    /// A prefix abbreviation that fits several keywords.
    Ambiguous,
    /// IOS would not accept the spelling, but its meaning is clear (documentation typos).
    NonCanonicalSpelling,
    /// A value IOS would require but that can be inferred.
    MissingValueAssumed,
    /// A reference to something not defined in the configuration.
    Undefined,
    /// A transform the data plane does not implement.
    UnsupportedTransform,
    /// More than one default peer, or `default` on a peer that is not the first.
    DefaultPeer,
    /// A crypto map idle time equal to the global one: IOS does not apply it.
    IdleTimeNotApplied,
    /// An option that is valid on crypto maps only, used elsewhere.
    CryptoMapOnly,
    /// A legacy form that works but has a newer spelling.
    Legacy,
    /// An ACL entry that can never match, because an earlier entry matches all it would.
    AclShadowed,
    /// An ACL entry that partly overlaps an earlier one with the opposite action (neither
    /// contains the other).
    AclOverlap,
    /// Commands that contradict each other or a required combination that is missing.
    Inconsistent,
    /// Parsed and kept, but rri does not act on it.
    NotImplemented,
    /// Manual keys with an AEAD (counter-mode) cipher, which RFC 8221 advises against.
    ManualKeyAead,
}

/// One finding about a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The kind of problem.
    pub code: Code,
    /// Where: the offending token (or the end of the line when something is missing).
    pub span: Span,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The valid keywords at that point, when the problem is a wrong keyword.
    pub expected: Vec<String>,
    /// A near miss among the valid keywords.
    pub suggestion: Option<String>,
    /// Further explanation (supported alternatives, the IOS rule).
    pub note: Option<String>,
}

impl Diagnostic {
    /// An error.
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            span,
            message: message.into(),
            expected: Vec::new(),
            suggestion: None,
            note: None,
        }
    }

    /// A warning.
    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    /// Adds a note.
    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Renders the diagnostic against the source it was found in.
    pub fn render(&self, file: &str, source: &str) -> String {
        let line_text = source
            .lines()
            .nth(self.span.line.saturating_sub(1) as usize)
            .unwrap_or("");
        self.render_line(file, line_text)
    }

    /// Renders the diagnostic with `line_text`, the text of the line it is on.
    fn render_line(&self, file: &str, line_text: &str) -> String {
        let mut out = format!(
            "{file}:{}:{}: {}: {}\n",
            self.span.line, self.span.col, self.severity, self.message
        );
        out += &format!("    {line_text}\n");
        let pad: String = line_text
            .chars()
            .take(self.span.col.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out += &format!("    {pad}{}\n", "^".repeat(self.span.len.max(1) as usize));
        if !self.expected.is_empty() {
            out += &format!("  expected: {}\n", self.expected.join(", "));
        }
        if let Some(s) = &self.suggestion {
            out += &format!("  did you mean '{s}'?\n");
        }
        if let Some(n) = &self.note {
            out += &format!("  note: {n}\n");
        }
        out
    }
}

/// All diagnostics of a file, in line order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }

    /// Sorts by position (stable for diagnostics on one token).
    pub fn sort(&mut self) {
        self.0.sort_by_key(|d| (d.span.line, d.span.col));
    }

    /// Renders every diagnostic against `source`, followed by a count line. The source's
    /// lines are split once, so that the cost grows with the file and the number of
    /// diagnostics, not with their product.
    pub fn render(&self, file: &str, source: &str) -> String {
        let lines: Vec<&str> = source.lines().collect();
        let mut out: String = self
            .0
            .iter()
            .map(|d| {
                let index = d.span.line.saturating_sub(1) as usize;
                d.render_line(file, lines.get(index).copied().unwrap_or(""))
            })
            .collect();
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        out += &format!(
            "{file}: {errors} error{}, {warnings} warning{}\n",
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" }
        );
        out
    }
}
