//! The management socket: a unix socket (mode 0660, owned by root and, with `--group`, by
//! that group) on which rrictl sends [`Request`]s. Each connection gets a thread that
//! hands the request to the control thread as a [`Job`] and writes back whatever replies
//! come, so nothing here touches the control thread's state.

use exec::protocol::{Reply, Request, MAX_REQUEST_BYTES};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::mpsc::{self, Sender, SyncSender};

/// Work for the control thread.
#[derive(Debug)]
pub enum Job {
    /// An exec command; replies go to `reply` (the stream ends when it is dropped).
    Exec {
        request: Request,
        reply: Sender<Reply>,
    },
    /// A metrics scrape: the exposition text.
    Metrics { reply: Sender<String> },
}

/// The numeric id of group `name` (from /etc/group).
fn group_id(name: &str) -> Result<u32, String> {
    let text = std::fs::read_to_string("/etc/group").map_err(|e| format!("/etc/group: {e}"))?;
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let (n, _, gid) = (f.next()?, f.next()?, f.next()?);
            (n == name).then(|| gid.parse().ok()).flatten()
        })
        .next()
        .ok_or_else(|| format!("--group {name}: no such group"))
}

/// Creates the socket. A socket left by an rrid that is gone is replaced; one that answers
/// means another rrid runs, which is an error.
pub fn bind(path: &Path, group: Option<&str>) -> Result<UnixListener, String> {
    let shown = path.display();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(format!("{shown}: another rrid is running on this socket"));
        }
        std::fs::remove_file(path).map_err(|e| format!("{shown}: {e}"))?;
    }
    let gid = group.map(group_id).transpose()?;
    let listener = UnixListener::bind(path).map_err(|e| format!("{shown}: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| format!("{shown}: {e}"))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(|e| format!("{shown}: {e}"))?;
    }
    Ok(listener)
}

/// Accepts connections until the listener fails.
pub fn serve(listener: UnixListener, jobs: SyncSender<Job>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            continue;
        };
        let jobs = jobs.clone();
        let _ = std::thread::Builder::new()
            .name("rrid-mgmt".into())
            .spawn(move || connection(stream, jobs));
    }
}

fn send(stream: &mut UnixStream, reply: &Reply) -> std::io::Result<()> {
    let mut line = reply.to_line();
    line.push('\n');
    stream.write_all(line.as_bytes())
}

/// How long a client may take to send its request line.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a reply may wait for a client that stopped reading (a stalled `debug` stream):
/// then the connection ends, and with it the subscription and its queued events.
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn connection(mut stream: UnixStream, jobs: SyncSender<Job>) {
    if stream.set_read_timeout(Some(REQUEST_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut line = String::new();
    let read = BufReader::new(read_half.take(MAX_REQUEST_BYTES as u64 + 1)).read_line(&mut line);
    let request = match read {
        Ok(_) => Request::from_line(line.trim_end()),
        Err(_) => None,
    };
    let Some(request) = request else {
        let _ = send(
            &mut stream,
            &Reply::Error("% Bad request (expected one JSON request line)".into()),
        );
        let _ = send(&mut stream, &Reply::Done { ok: false });
        return;
    };
    let (tx, rx) = mpsc::channel();
    if jobs.send(Job::Exec { request, reply: tx }).is_err() {
        let _ = send(&mut stream, &Reply::Error("% rrid is shutting down".into()));
        let _ = send(&mut stream, &Reply::Done { ok: false });
        return;
    }
    for reply in rx {
        if send(&mut stream, &reply).is_err() {
            // The client went (rrictl interrupted a debug stream): dropping the receiver
            // ends the subscription at the next event.
            return;
        }
    }
}
