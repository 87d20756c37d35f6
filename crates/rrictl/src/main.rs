//! `rrictl`: the rri command line. IOS exec commands sent to rrid over its management
//! socket, one from the command line or many at a console prompt; and `check FILE`, which
//! needs no rrid.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use exec::protocol::{Reply, Request};
use exec::{Command, ParseError};

const AFTER_HELP: &str = "\
Commands (IOS exec syntax; keywords may be abbreviated, `sh cry ro`):
  show running-config             the configuration rrid runs now
  show version                    version, uptime, workers and ports
  show ip route [vrf NAME]        the routing table
  show crypto route               routes injected by RRI (and static map ACLs)
  show crypto map                 crypto map entries, peers, ACLs, transform sets
  show crypto ipsec sa [peer A]   IPsec SAs with their packet counters
  show crypto session             IKE sessions and their child SAs
  show crypto peer                each entry's peers: default, current, failures
  show interfaces                 ports with addresses and counters
  clear crypto sa [peer A]        delete IKE SAs (the peers are told)
  debug crypto ipsec              stream IKE, SA, RRI and peer events (Ctrl-C ends)
  configure replace FILE          apply FILE, changing only what differs
  check FILE                      check FILE offline, without rrid (also --render, --strict)

Without a command, rrictl opens a console: a prompt with the router's host name, history,
Tab completion and `?` help, as on a router. `exit` leaves.

Exit status: 0 done, 1 the command failed (invalid input, a refused configuration),
2 rrid could not be reached.

Examples:
  rrictl show crypto route
  rrictl --json show crypto ipsec sa peer 192.0.2.2
  rrictl configure replace /etc/rri/rri.cfg
  rrictl check my-router.cfg --render";

/// The rri command line.
#[derive(Parser, Debug)]
#[command(
    name = "rrictl",
    version,
    about = "The rri command line: IOS exec commands for rrid, and offline configuration checks",
    after_help = AFTER_HELP,
    override_usage = "rrictl [OPTIONS] [COMMAND...]\n       rrictl check FILE [--render] [--strict]"
)]
struct Cli {
    /// rrid's management socket.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/run/rri/rrid.sock",
        env = "RRI_SOCKET"
    )]
    socket: PathBuf,
    /// Print `show` answers as JSON.
    #[arg(long)]
    json: bool,
    /// `check`: also print the canonical configuration.
    #[arg(long)]
    render: bool,
    /// `check`: treat warnings as errors.
    #[arg(long)]
    strict: bool,
    /// The command (omit for the console).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    words: Vec<String>,
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    // Options after the command words (`check FILE --render`) are options still.
    let mut words = Vec::new();
    for w in std::mem::take(&mut cli.words) {
        match w.as_str() {
            "--render" => cli.render = true,
            "--strict" => cli.strict = true,
            "--json" => cli.json = true,
            _ => words.push(w),
        }
    }
    cli.words = words;
    if cli.words.is_empty() {
        return console(&cli);
    }
    let line = cli.words.join(" ");
    let (status, _) = one_command(&cli, &line, 0, true, None);
    status
}

/// Runs one line: local parse first (so the caret lines up with what was typed), `check`
/// offline, the rest through rrid.
fn one_command(
    cli: &Cli,
    line: &str,
    indent: usize,
    echo: bool,
    interrupt: Option<&AtomicBool>,
) -> (ExitCode, Option<Command>) {
    let command = match exec::parse(line) {
        Ok(c) => c,
        Err(e) => {
            if echo && matches!(e, ParseError::Invalid { .. }) {
                eprintln!("{line}");
            }
            eprint!("{}", e.render(line, indent));
            return (ExitCode::FAILURE, None);
        }
    };
    let request_line = match &command {
        Command::Check { file } => return (check(Path::new(file), cli), Some(command)),
        // rrid reads the file: send a path that means the same from where it runs.
        Command::ConfigureReplace { file } => match std::fs::canonicalize(file) {
            Ok(p) => format!("configure replace {}", p.display()),
            Err(e) => {
                eprintln!("% {file}: {e}");
                return (ExitCode::FAILURE, Some(command));
            }
        },
        _ => line.to_string(),
    };
    let request = Request {
        line: request_line,
        json: cli.json,
    };
    (send(&cli.socket, &request, interrupt), Some(command))
}

/// Sends one request and prints the answer.
fn send(socket: &Path, request: &Request, interrupt: Option<&AtomicBool>) -> ExitCode {
    let mut stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "rrictl: cannot reach rrid at {}: {e} (is rrid running? --socket or RRI_SOCKET name another socket)",
                socket.display()
            );
            return ExitCode::from(2);
        }
    };
    let mut line = serde_json::to_string(request).unwrap_or_default();
    line.push('\n');
    if let Err(e) = stream.write_all(line.as_bytes()) {
        eprintln!("rrictl: {}: {e}", socket.display());
        return ExitCode::from(2);
    }
    if interrupt.is_some() {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    }
    let Ok(read_half) = stream.try_clone() else {
        return ExitCode::from(2);
    };
    let mut reader = BufReader::new(read_half);
    let mut buf = String::new();
    let mut out = std::io::stdout().lock();
    loop {
        if interrupt.is_some_and(|i| i.swap(false, Ordering::Relaxed)) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return ExitCode::SUCCESS;
        }
        match reader.read_line(&mut buf) {
            Ok(0) => {
                eprintln!("rrictl: rrid closed the connection");
                return ExitCode::FAILURE;
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => {
                eprintln!("rrictl: {e}");
                return ExitCode::FAILURE;
            }
        }
        let reply: Option<Reply> = serde_json::from_str(buf.trim_end()).ok();
        buf.clear();
        match reply {
            Some(Reply::Output(text)) => {
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
            Some(Reply::Data(value)) => {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                );
            }
            Some(Reply::Error(text)) => eprint!("{text}"),
            Some(Reply::Done { ok }) => {
                return if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            None => {
                eprintln!("rrictl: an answer rrictl does not understand");
                return ExitCode::FAILURE;
            }
        }
    }
}

/// `check FILE`, offline.
fn check(file: &Path, cli: &Cli) -> ExitCode {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("rrictl: {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let (text, checked) = config::check_bytes(&bytes);
    let name = file.display().to_string();
    eprint!("{}", checked.diagnostics.render(&name, &text));
    let failed = checked.diagnostics.has_errors()
        || (cli.strict && checked.diagnostics.warnings().next().is_some());
    // A failed check renders nothing: half a configuration on stdout would be taken, in a
    // pipeline, for the canonical form of the whole.
    if cli.render && !failed {
        print!("{}", config::render(&checked.config));
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The console's helper: Tab completes keywords.
struct ExecHelper;

impl rustyline::completion::Completer for ExecHelper {
    type Candidate = String;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let head = &line[..pos];
        let start = head
            .rfind(|c: char| c.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        let words = exec::complete(head)
            .into_iter()
            .map(|w| format!("{w} "))
            .collect();
        Ok((start, words))
    }
}

impl rustyline::hint::Hinter for ExecHelper {
    type Hint = String;
}
impl rustyline::highlight::Highlighter for ExecHelper {}
impl rustyline::validate::Validator for ExecHelper {}
impl rustyline::Helper for ExecHelper {}

/// The router's host name, for the prompt.
fn hostname(socket: &Path) -> Option<String> {
    let mut stream = UnixStream::connect(socket).ok()?;
    let request = Request {
        line: "show version".into(),
        json: true,
    };
    writeln!(stream, "{}", serde_json::to_string(&request).ok()?).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    match serde_json::from_str::<Reply>(line.trim_end()).ok()? {
        Reply::Data(v) => Some(v.get("hostname")?.as_str()?.to_string()),
        _ => None,
    }
}

fn console(cli: &Cli) -> ExitCode {
    if UnixStream::connect(&cli.socket).is_err() {
        eprintln!(
            "rrictl: cannot reach rrid at {} (is rrid running?)",
            cli.socket.display()
        );
        return ExitCode::from(2);
    }
    let prompt = format!(
        "{}#",
        hostname(&cli.socket).unwrap_or_else(|| "rri".to_string())
    );
    let interrupt = Arc::new(AtomicBool::new(false));
    // Ctrl-C ends a `debug` stream, not the console (at the prompt the line editor takes it).
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, interrupt.clone());
    let mut editor =
        match rustyline::Editor::<ExecHelper, rustyline::history::DefaultHistory>::new() {
            Ok(e) => e,
            Err(e) => {
                eprintln!("rrictl: {e}");
                return ExitCode::FAILURE;
            }
        };
    editor.set_helper(Some(ExecHelper));
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rrictl_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let typed = std::io::stdin().is_terminal();
    let mut initial = String::new();
    loop {
        let read = editor.readline_with_initial(&prompt, (&initial, ""));
        initial.clear();
        let line = match read {
            Ok(l) => l,
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(_) => break,
        };
        if !typed {
            // Commands piped in: print them after the prompt, as a console transcript, so
            // that answers and carets line up with them.
            println!("{prompt}{line}");
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(before) = line.strip_suffix('?') {
            let help = exec::help(before);
            if help.is_empty() {
                eprint!(
                    "{}",
                    ParseError::Invalid {
                        at: before.len().saturating_sub(1)
                    }
                    .render(before, prompt.len())
                );
            } else {
                print!("{}", exec::render_help(&help));
            }
            initial = before.to_string();
            continue;
        }
        let _ = editor.add_history_entry(trimmed);
        if matches!(
            trimmed.to_ascii_lowercase().as_str(),
            "exit" | "quit" | "end" | "logout"
        ) {
            break;
        }
        interrupt.store(false, Ordering::Relaxed);
        let _ = one_command(cli, &line, prompt.len(), false, Some(&interrupt));
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    ExitCode::SUCCESS
}
