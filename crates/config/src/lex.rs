//! Splitting configuration text into lines of whitespace-separated tokens with positions.

use crate::span::Span;

/// One word of a command line.
#[derive(Debug, Clone, Copy)]
pub struct Token<'a> {
    /// The text.
    pub text: &'a str,
    /// Where it is.
    pub span: Span,
}

/// One command line: its tokens and its raw text. Indentation is not significant in IOS.
#[derive(Debug, Clone)]
pub struct Line<'a> {
    /// 1-based line number.
    pub number: u32,
    /// The whole line.
    pub raw: &'a str,
    /// The words.
    pub tokens: Vec<Token<'a>>,
}

impl<'a> Line<'a> {
    /// The text from token `i` to the end of the line (for free text such as descriptions).
    pub fn rest_from(&self, i: usize) -> &'a str {
        match self.tokens.get(i) {
            Some(t) => {
                let start = self
                    .raw
                    .char_indices()
                    .nth(t.span.col as usize - 1)
                    .map_or(self.raw.len(), |(b, _)| b);
                self.raw[start..].trim_end()
            }
            None => "",
        }
    }

    /// The span just past the last token: where a missing word would go.
    pub fn end_span(&self) -> Span {
        match self.tokens.last() {
            Some(t) => Span::new(self.number, t.span.col + t.span.len + 1, 1),
            None => Span::new(self.number, 1, 1),
        }
    }
}

/// The command lines of a text: blank lines and `!` comments are dropped, and a leading byte
/// order mark.
pub fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    // A byte order mark (editors on Windows write one) is not part of the first line.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw) in text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let raw = raw.trim_end_matches('\r');
        let mut tokens = Vec::new();
        let mut col = 0u32;
        let mut start: Option<(usize, u32)> = None;
        for (byte, ch) in raw.char_indices() {
            col += 1;
            if ch.is_whitespace() {
                if let Some((b, c)) = start.take() {
                    tokens.push(Token {
                        text: &raw[b..byte],
                        span: Span::new(number, c, col - c),
                    });
                }
            } else if start.is_none() {
                start = Some((byte, col));
            }
        }
        if let Some((b, c)) = start {
            tokens.push(Token {
                text: &raw[b..],
                span: Span::new(number, c, col + 1 - c),
            });
        }
        let Some(first) = tokens.first() else {
            continue;
        };
        if first.text.starts_with('!') || first.text.starts_with('#') {
            continue;
        }
        out.push(Line {
            number,
            raw,
            tokens,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_line_and_column() {
        let text = "! comment\n\ncrypto map  mymap 10\n set peer 10.1.1.1 default\n";
        let lines = lines(text);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].number, 3);
        let cols: Vec<(&str, u32, u32)> = lines[0]
            .tokens
            .iter()
            .map(|t| (t.text, t.span.col, t.span.len))
            .collect();
        assert_eq!(
            cols,
            vec![
                ("crypto", 1, 6),
                ("map", 8, 3),
                ("mymap", 13, 5),
                ("10", 19, 2)
            ]
        );
        assert_eq!(lines[1].tokens[0].span.col, 2);
        assert_eq!(lines[1].rest_from(2), "10.1.1.1 default");
        assert_eq!(lines[1].end_span().col, 28, "one space after the last word");
    }
}
