//! The exec commands of rri, read as an IOS router reads them.
//!
//! One grammar serves both ends: `rrictl` uses it for completion and `?` help on its
//! console, `rrid` uses it to decide what a request means (so a client that skips the check
//! still gets the same answer). The rules are IOS's:
//!
//! * keywords are case-insensitive and a unique prefix stands for a keyword (`sh cry ro`);
//!   a prefix of several keywords is `% Ambiguous command`;
//! * a word that fits nothing is `% Invalid input detected at '^' marker.`, the caret under
//!   the first character that stops fitting (the start of the word for a bad argument);
//! * a line that stops before a command is complete is `% Incomplete command.`
//!
//! Parsing never panics on any input, and every command it returns was fully matched.

#![forbid(unsafe_code)]

use std::fmt;
use std::net::Ipv4Addr;

pub mod protocol;

/// A command rrid carries out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Keys masked unless `unmasked`.
    ShowRunningConfig {
        unmasked: bool,
    },
    ShowVersion,
    ShowIpRoute {
        vrf: Option<String>,
    },
    ShowCryptoRoute,
    ShowCryptoMap,
    ShowCryptoIpsecSa {
        peer: Option<Ipv4Addr>,
    },
    ShowCryptoSession,
    ShowCryptoPeer,
    ShowInterfaces,
    ClearCryptoSa {
        peer: Option<Ipv4Addr>,
    },
    DebugCryptoIpsec,
    ConfigureReplace {
        file: String,
    },
    Check {
        file: String,
    },
}

impl Command {
    /// Whether the command only reads state (so `--json` applies to it).
    pub fn is_show(&self) -> bool {
        matches!(
            self,
            Command::ShowRunningConfig { .. }
                | Command::ShowVersion
                | Command::ShowIpRoute { .. }
                | Command::ShowCryptoRoute
                | Command::ShowCryptoMap
                | Command::ShowCryptoIpsecSa { .. }
                | Command::ShowCryptoSession
                | Command::ShowCryptoPeer
                | Command::ShowInterfaces
        )
    }
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing fits at byte column `at` of the line.
    Invalid { at: usize },
    /// The word starting at byte column `at` is a prefix of several keywords.
    Ambiguous { at: usize, word: String },
    /// The line ends before a command is complete.
    Incomplete,
}

impl ParseError {
    /// The error as IOS prints it after the line was typed behind a prompt `indent`
    /// characters wide: the caret line (where there is one) and the message.
    pub fn render(&self, line: &str, indent: usize) -> String {
        match self {
            ParseError::Invalid { at } => {
                let col = line.get(..*at).map_or(*at, |s| s.chars().count());
                format!(
                    "{}^\n% Invalid input detected at '^' marker.\n",
                    " ".repeat(indent + col)
                )
            }
            ParseError::Ambiguous { .. } => {
                format!("% Ambiguous command:  \"{}\"\n", line.trim())
            }
            ParseError::Incomplete => "% Incomplete command.\n".to_string(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Invalid { at } => {
                write!(
                    f,
                    "% Invalid input detected at '^' marker (column {})",
                    at + 1
                )
            }
            ParseError::Ambiguous { word, .. } => write!(f, "% Ambiguous command: \"{word}\""),
            ParseError::Incomplete => f.write_str("% Incomplete command."),
        }
    }
}

impl std::error::Error for ParseError {}

/// What a position in the grammar accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Keyword(&'static str),
    /// An IPv4 address.
    Address,
    /// Any word (a name).
    Word,
    /// A file path (any word).
    File,
}

/// What a complete path through the grammar means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    RunningConfig,
    RunningConfigUnmasked,
    Version,
    IpRoute,
    CryptoRoute,
    CryptoMap,
    IpsecSa,
    Session,
    Peer,
    Interfaces,
    ClearSa,
    Debug,
    Replace,
    Check,
}

#[derive(Debug)]
struct Node {
    token: Token,
    help: &'static str,
    /// Set when the line may end after this node.
    action: Option<Action>,
    next: &'static [Node],
}

const fn kw(
    word: &'static str,
    help: &'static str,
    action: Option<Action>,
    next: &'static [Node],
) -> Node {
    Node {
        token: Token::Keyword(word),
        help,
        action,
        next,
    }
}

const fn arg(token: Token, help: &'static str, action: Action) -> Node {
    Node {
        token,
        help,
        action: Some(action),
        next: &[],
    }
}

const PEER_SA: &[Node] = &[kw(
    "peer",
    "Show/clear SAs of one peer",
    None,
    &[arg(
        Token::Address,
        "IP address of the remote peer",
        Action::IpsecSa,
    )],
)];

const CLEAR_PEER: &[Node] = &[kw(
    "peer",
    "Clear SAs of one peer",
    None,
    &[arg(
        Token::Address,
        "IP address of the remote peer",
        Action::ClearSa,
    )],
)];

const SHOW_CRYPTO: &[Node] = &[
    kw(
        "ipsec",
        "Show IPsec information",
        None,
        &[kw(
            "sa",
            "IPsec SAs with their counters",
            Some(Action::IpsecSa),
            PEER_SA,
        )],
    ),
    kw("map", "Crypto maps", Some(Action::CryptoMap), &[]),
    kw(
        "peer",
        "Peers of each crypto map entry",
        Some(Action::Peer),
        &[],
    ),
    kw(
        "route",
        "Routes injected by RRI",
        Some(Action::CryptoRoute),
        &[],
    ),
    kw(
        "session",
        "IKE sessions and their child SAs",
        Some(Action::Session),
        &[],
    ),
];

const SHOW: &[Node] = &[
    kw("crypto", "Encryption module", None, SHOW_CRYPTO),
    kw(
        "interfaces",
        "Port status and counters",
        Some(Action::Interfaces),
        &[],
    ),
    kw(
        "ip",
        "IP information",
        None,
        &[kw(
            "route",
            "IP routing table",
            Some(Action::IpRoute),
            &[kw(
                "vrf",
                "Display routes of a VPN routing/forwarding instance",
                None,
                &[arg(Token::Word, "VRF name", Action::IpRoute)],
            )],
        )],
    ),
    kw(
        "running-config",
        "Current operating configuration (keys masked)",
        Some(Action::RunningConfig),
        &[kw(
            "unmasked",
            "With pre-shared keys and session keys in clear",
            Some(Action::RunningConfigUnmasked),
            &[],
        )],
    ),
    kw(
        "version",
        "rri version and uptime",
        Some(Action::Version),
        &[],
    ),
];

const ROOT: &[Node] = &[
    kw(
        "check",
        "Check a configuration file without applying it",
        None,
        &[arg(
            Token::File,
            "Configuration file (path on the router)",
            Action::Check,
        )],
    ),
    kw(
        "clear",
        "Reset functions",
        None,
        &[kw(
            "crypto",
            "Encryption module",
            None,
            &[kw("sa", "IPsec SAs", Some(Action::ClearSa), CLEAR_PEER)],
        )],
    ),
    kw(
        "configure",
        "Configuration",
        None,
        &[kw(
            "replace",
            "Replace the running configuration with a file, applying the differences",
            None,
            &[arg(
                Token::File,
                "Configuration file (path on the router)",
                Action::Replace,
            )],
        )],
    ),
    kw(
        "debug",
        "Debugging functions",
        None,
        &[kw(
            "crypto",
            "Encryption module",
            None,
            &[kw(
                "ipsec",
                "IPsec events (until interrupted)",
                Some(Action::Debug),
                &[],
            )],
        )],
    ),
    kw("show", "Show running system information", None, SHOW),
];

/// A word of the line with its byte offset.
fn words(line: &str) -> impl Iterator<Item = (usize, &str)> {
    line.split_ascii_whitespace()
        .map(move |w| (w.as_ptr() as usize - line.as_ptr() as usize, w))
}

fn keyword_fits(keyword: &str, word: &str) -> bool {
    word.len() <= keyword.len()
        && keyword.as_bytes()[..word.len()].eq_ignore_ascii_case(word.as_bytes())
}

/// How many leading bytes of `word` fit the start of `keyword`.
fn common_prefix(keyword: &str, word: &str) -> usize {
    keyword
        .bytes()
        .zip(word.bytes())
        .take_while(|(k, w)| k.eq_ignore_ascii_case(w))
        .count()
}

/// The nodes at `level` that `word` fits, keywords by prefix, arguments by value.
fn fitting<'a>(level: &'a [Node], word: &str) -> Vec<&'a Node> {
    let exact: Vec<&Node> = level
        .iter()
        .filter(|n| matches!(n.token, Token::Keyword(k) if k.eq_ignore_ascii_case(word)))
        .collect();
    if !exact.is_empty() {
        return exact;
    }
    level
        .iter()
        .filter(|n| match n.token {
            Token::Keyword(k) => keyword_fits(k, word),
            Token::Address => word.parse::<Ipv4Addr>().is_ok(),
            Token::Word | Token::File => true,
        })
        .collect()
}

/// Parses one line.
pub fn parse(line: &str) -> Result<Command, ParseError> {
    let mut level = ROOT;
    let mut action = None;
    let mut args: Vec<(Token, &str)> = Vec::new();
    for (at, word) in words(line) {
        let fits = fitting(level, word);
        let node = match fits.as_slice() {
            [one] => *one,
            [] => {
                let longest = level
                    .iter()
                    .filter_map(|n| match n.token {
                        Token::Keyword(k) => Some(common_prefix(k, word)),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                return Err(ParseError::Invalid {
                    at: at + longest.min(word.len().saturating_sub(1)),
                });
            }
            _ => {
                return Err(ParseError::Ambiguous {
                    at,
                    word: word.to_string(),
                })
            }
        };
        if !matches!(node.token, Token::Keyword(_)) {
            args.push((node.token, word));
        }
        action = node.action;
        level = node.next;
    }
    let Some(action) = action else {
        return Err(ParseError::Incomplete);
    };
    let address = || {
        args.iter()
            .find(|(t, _)| *t == Token::Address)
            .and_then(|(_, w)| w.parse().ok())
    };
    let word = || args.first().map(|(_, w)| w.to_string());
    Ok(match action {
        Action::RunningConfig => Command::ShowRunningConfig { unmasked: false },
        Action::RunningConfigUnmasked => Command::ShowRunningConfig { unmasked: true },
        Action::Version => Command::ShowVersion,
        Action::IpRoute => Command::ShowIpRoute { vrf: word() },
        Action::CryptoRoute => Command::ShowCryptoRoute,
        Action::CryptoMap => Command::ShowCryptoMap,
        Action::IpsecSa => Command::ShowCryptoIpsecSa { peer: address() },
        Action::Session => Command::ShowCryptoSession,
        Action::Peer => Command::ShowCryptoPeer,
        Action::Interfaces => Command::ShowInterfaces,
        Action::ClearSa => Command::ClearCryptoSa { peer: address() },
        Action::Debug => Command::DebugCryptoIpsec,
        Action::Replace => Command::ConfigureReplace {
            file: word().unwrap_or_default(),
        },
        Action::Check => Command::Check {
            file: word().unwrap_or_default(),
        },
    })
}

/// The grammar level after the complete words of `line` (all but a last unfinished one),
/// and whether the line could end there.
fn level_after(words: &[&str]) -> Option<(&'static [Node], bool)> {
    let mut level = ROOT;
    let mut complete = false;
    for word in words {
        let fits = fitting(level, word);
        let [node] = fits.as_slice() else {
            return None;
        };
        complete = node.action.is_some();
        level = node.next;
    }
    Some((level, complete))
}

/// One line of `?` help: what may come next and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Help {
    pub word: &'static str,
    pub help: &'static str,
}

fn placeholder(token: Token) -> &'static str {
    match token {
        Token::Keyword(k) => k,
        Token::Address => "A.B.C.D",
        Token::Word => "WORD",
        Token::File => "FILE",
    }
}

/// What `?` lists after `line`: with a trailing space, every word that may come next (and
/// `<cr>` where the line may end); without one, the keywords the last word is a prefix of.
pub fn help(line: &str) -> Vec<Help> {
    let all: Vec<&str> = line.split_ascii_whitespace().collect();
    let (done, partial) = if line.is_empty() || line.ends_with(|c: char| c.is_ascii_whitespace()) {
        (&all[..], None)
    } else {
        (&all[..all.len() - 1], all.last().copied())
    };
    let Some((level, complete)) = level_after(done) else {
        return Vec::new();
    };
    let mut out: Vec<Help> = level
        .iter()
        .filter(|n| match (partial, n.token) {
            (None, _) => true,
            (Some(p), Token::Keyword(k)) => keyword_fits(k, p),
            (Some(_), _) => false,
        })
        .map(|n| Help {
            word: placeholder(n.token),
            help: n.help,
        })
        .collect();
    if partial.is_none() && complete && !done.is_empty() {
        out.push(Help {
            word: "<cr>",
            help: "",
        });
    }
    out
}

/// Renders help lines as IOS aligns them.
pub fn render_help(lines: &[Help]) -> String {
    let width = lines.iter().map(|h| h.word.len()).max().unwrap_or(0);
    let mut out = String::new();
    for h in lines {
        out.push_str(&format!("  {:<width$}  {}\n", h.word, h.help));
    }
    out
}

/// Completions of the last word of `line` (Tab): the keywords it is a prefix of.
pub fn complete(line: &str) -> Vec<&'static str> {
    help(line)
        .into_iter()
        .filter(|h| !matches!(h.word, "<cr>" | "A.B.C.D" | "WORD" | "FILE"))
        .map(|h| h.word)
        .collect()
}

/// Every command the grammar knows, written out in full (for `--help` and documentation).
pub fn command_list() -> Vec<String> {
    fn walk(level: &[Node], prefix: &str, out: &mut Vec<String>) {
        for n in level {
            let here = if prefix.is_empty() {
                placeholder(n.token).to_string()
            } else {
                format!("{prefix} {}", placeholder(n.token))
            };
            if n.action.is_some() {
                out.push(here.clone());
            }
            walk(n.next, &here, out);
        }
    }
    let mut out = Vec::new();
    walk(ROOT, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn full_and_abbreviated_keywords() {
        assert_eq!(parse("show crypto route"), Ok(Command::ShowCryptoRoute));
        assert_eq!(parse("sh cry ro"), Ok(Command::ShowCryptoRoute));
        assert_eq!(
            parse("  SHOW   CRYPTO  Route "),
            Ok(Command::ShowCryptoRoute)
        );
        assert_eq!(
            parse("sh run"),
            Ok(Command::ShowRunningConfig { unmasked: false })
        );
        assert_eq!(
            parse("sh run unm"),
            Ok(Command::ShowRunningConfig { unmasked: true })
        );
        assert_eq!(parse("sh ip ro"), Ok(Command::ShowIpRoute { vrf: None }));
        assert_eq!(
            parse("sh ip ro vrf blue"),
            Ok(Command::ShowIpRoute {
                vrf: Some("blue".into())
            })
        );
        assert_eq!(
            parse("sh cry ips sa peer 10.0.0.2"),
            Ok(Command::ShowCryptoIpsecSa {
                peer: Some("10.0.0.2".parse().unwrap())
            })
        );
        assert_eq!(
            parse("clear cry sa"),
            Ok(Command::ClearCryptoSa { peer: None })
        );
        assert_eq!(parse("deb cry ipsec"), Ok(Command::DebugCryptoIpsec));
        assert_eq!(
            parse("conf rep /etc/rri/new.cfg"),
            Ok(Command::ConfigureReplace {
                file: "/etc/rri/new.cfg".into()
            })
        );
        assert_eq!(parse("show int"), Ok(Command::ShowInterfaces));
    }

    #[test]
    fn caret_under_the_first_character_that_does_not_fit() {
        let line = "show crypto rxute";
        let e = parse(line).unwrap_err();
        assert_eq!(e, ParseError::Invalid { at: 13 });
        assert_eq!(
            e.render(line, 0),
            "             ^\n% Invalid input detected at '^' marker.\n"
        );
        // Behind a prompt the caret moves with it.
        assert!(e.render(line, 5).starts_with(&" ".repeat(18)));
        // A bad address: the caret at its start.
        assert_eq!(
            parse("show crypto ipsec sa peer 10.0.0.300"),
            Err(ParseError::Invalid { at: 26 })
        );
        // Words after a complete command.
        assert_eq!(
            parse("show crypto route now"),
            Err(ParseError::Invalid { at: 18 })
        );
        assert_eq!(parse("bogus"), Err(ParseError::Invalid { at: 0 }));
    }

    #[test]
    fn ambiguous_and_incomplete() {
        // `c` alone is unique under `show` (crypto) but not at the start.
        assert!(matches!(parse("show c"), Err(ParseError::Incomplete)));
        assert!(matches!(parse("c"), Err(ParseError::Ambiguous { .. })));
        assert_eq!(
            parse("c").unwrap_err().render("c", 0),
            "% Ambiguous command:  \"c\"\n"
        );
        assert_eq!(parse("show"), Err(ParseError::Incomplete));
        assert_eq!(parse(""), Err(ParseError::Incomplete));
        assert_eq!(
            parse("show crypto ipsec sa peer"),
            Err(ParseError::Incomplete)
        );
    }

    #[test]
    fn help_and_completion() {
        let h = help("show crypto ");
        let words: Vec<_> = h.iter().map(|h| h.word).collect();
        assert_eq!(words, ["ipsec", "map", "peer", "route", "session"]);
        let h = help("show crypto ipsec sa ");
        let words: Vec<_> = h.iter().map(|h| h.word).collect();
        assert_eq!(words, ["peer", "<cr>"]);
        assert_eq!(complete("sh cry r"), ["route"]);
        assert_eq!(complete("c"), ["check", "clear", "configure"]);
        assert!(complete("show nonsense ").is_empty());
        assert!(render_help(&help("")).contains("  show       Show running system information\n"));
        let all = command_list();
        assert!(all.contains(&"show crypto ipsec sa peer A.B.C.D".to_string()));
        assert!(all.contains(&"configure replace FILE".to_string()));
    }

    proptest! {
        // Any line: no panic; an error's caret lies within the line; a parsed command
        // parses again from its words with single spaces.
        #[test]
        fn no_panic_on_any_line(line in "\\PC{0,60}") {
            match parse(&line) {
                Ok(_) => {
                    let again = line.split_ascii_whitespace().collect::<Vec<_>>().join(" ");
                    prop_assert_eq!(parse(&again), parse(&line));
                }
                Err(ParseError::Invalid { at }) => {
                    prop_assert!(at < line.len());
                    prop_assert!(line.is_char_boundary(at));
                }
                Err(_) => {}
            }
            let _ = help(&line);
            let _ = complete(&line);
        }

        // Every keyword prefix that is unique at its level is accepted.
        #[test]
        fn unique_prefixes_accepted(cut in 1usize..8) {
            let word = &"running-config"[..cut.min(14)];
            prop_assert_eq!(parse(&format!("show {word}")), Ok(Command::ShowRunningConfig { unmasked: false }));
        }
    }
}
