//! rrid's management socket: one JSON object per line each way.
//!
//! The client sends one [`Request`]; rrid answers with [`Reply`] lines and ends with
//! [`Reply::Done`], except for `debug crypto ipsec`, whose [`Reply::Output`] lines go on
//! until the client closes the connection (or rrid stops). A line that is not a request
//! gets an [`Reply::Error`] and the connection is closed.

use serde::{Deserialize, Serialize};

/// The most a request line may hold; longer ones are refused.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// One exec command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The command as typed (`sh cry ro`).
    pub line: String,
    /// Answer a `show` with [`Reply::Data`] instead of text.
    #[serde(default)]
    pub json: bool,
}

/// One line of an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Text to print as it is.
    Output(String),
    /// A `show` as a value.
    Data(serde_json::Value),
    /// What went wrong, as IOS words it (`% ...`).
    Error(String),
    /// The end of the answer.
    Done { ok: bool },
}

impl Request {
    /// Reads a request line; `None` for anything that is not one.
    pub fn from_line(line: &str) -> Option<Request> {
        if line.len() > MAX_REQUEST_BYTES {
            return None;
        }
        serde_json::from_str(line).ok()
    }
}

impl Reply {
    /// The line to send (without its newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"error":"% internal error"}"#.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let r = Request {
            line: "sh cry ro".into(),
            json: true,
        };
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(Request::from_line(&line), Some(r));
        assert_eq!(
            Request::from_line(r#"{"line":"show version"}"#).map(|r| r.json),
            Some(false)
        );
        for bad in ["", "show version", "{", r#"{"line":5}"#, "\u{0}"] {
            assert_eq!(Request::from_line(bad), None, "{bad:?}");
        }
        let reply = Reply::Done { ok: true };
        assert_eq!(
            serde_json::from_str::<Reply>(&reply.to_line()).unwrap(),
            reply
        );
    }
}
