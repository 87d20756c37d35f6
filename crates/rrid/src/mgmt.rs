//! The management socket: a unix socket (mode 0660, owned by rrid's user and, with
//! `--group`, by that group) on which rrictl sends [`Request`]s. Each connection gets a
//! thread that hands the request to the control thread as a [`Job`] and writes back whatever
//! replies come, so nothing here touches the control thread's state.
//!
//! Who may use it: the file's mode is the first gate. The socket is made in a private
//! directory (mode 0700), given its mode and group there, and only then renamed into place,
//! so there is no moment when it is reachable with a looser mode. The second gate is the
//! client's credentials (`SO_PEERCRED`): root, rrid's own user, and with `--group` that
//! group's members (primary group or listed in /etc/group) are served; anyone else is
//! refused and logged. Every command that changes state (`configure replace`, `clear`,
//! `debug`) is logged with the client's uid and pid before it runs.

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
    /// `privileged`: the client is root or rrid's own user (not only a member of the
    /// socket's group), which showing the keys requires.
    Exec {
        request: Request,
        reply: Sender<Reply>,
        privileged: bool,
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

/// The members of group `gid` listed in /etc/group, as uids (through /etc/passwd).
fn group_member_uids(gid: u32) -> Vec<u32> {
    let members: Vec<String> = std::fs::read_to_string("/etc/group")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[2].parse() == Ok(gid)).then(|| {
                f[3].split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
        })
        .flatten()
        .collect();
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 3 && members.iter().any(|m| m == f[0]))
                .then(|| f[2].parse().ok())
                .flatten()
        })
        .collect()
}

/// Who may use the socket (see the module documentation).
#[derive(Debug, Clone)]
pub struct Access {
    own_uid: u32,
    group: Option<u32>,
    member_uids: Vec<u32>,
}

/// A client's credentials, as the kernel gave them at connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: i32,
}

impl Access {
    /// Root and rrid's own user; with `group`, also that group's members.
    pub fn new(group: Option<u32>) -> Access {
        Access {
            own_uid: nix::unistd::geteuid().as_raw(),
            group,
            member_uids: group.map(group_member_uids).unwrap_or_default(),
        }
    }

    /// Whether `peer` is root or rrid's own user.
    pub fn privileged(&self, peer: &Peer) -> bool {
        peer.uid == 0 || peer.uid == self.own_uid
    }

    /// Whether `peer` may use the socket.
    pub fn allows(&self, peer: &Peer) -> bool {
        peer.uid == 0
            || peer.uid == self.own_uid
            || self
                .group
                .is_some_and(|g| peer.gid == g || self.member_uids.contains(&peer.uid))
    }
}

/// The client's credentials (`SO_PEERCRED`).
fn peer_of(stream: &UnixStream) -> Option<Peer> {
    let cred =
        nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials).ok()?;
    Some(Peer {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: cred.pid(),
    })
}

/// Creates the socket with its final mode and group (see the module documentation) and
/// says who may use it. A socket left by an rrid that is gone is replaced; one that answers
/// means another rrid runs, which is an error.
pub fn bind(path: &Path, group: Option<&str>) -> Result<(UnixListener, Access), String> {
    use std::os::unix::fs::DirBuilderExt;
    let shown = path.display();
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(format!("{shown}: another rrid is running on this socket"));
        }
        std::fs::remove_file(path).map_err(|e| format!("{shown}: {e}"))?;
    }
    let gid = group.map(group_id).transpose()?;
    let file_name = path
        .file_name()
        .ok_or_else(|| format!("{shown}: not a file name"))?;
    let stage = dir.join(format!(".rrid-socket.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&stage)
        .map_err(|e| format!("{}: {e}", stage.display()))?;
    let staged = stage.join(file_name);
    let made = (|| {
        let listener = UnixListener::bind(&staged)?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o660))?;
        if let Some(gid) = gid {
            std::os::unix::fs::chown(&staged, None, Some(gid))?;
        }
        std::fs::rename(&staged, path)?;
        Ok::<_, std::io::Error>(listener)
    })();
    let _ = std::fs::remove_dir_all(&stage);
    let listener = made.map_err(|e| format!("{shown}: {e}"))?;
    Ok((listener, Access::new(gid)))
}

/// Accepts connections until the listener fails.
pub fn serve(listener: UnixListener, access: Access, jobs: SyncSender<Job>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            continue;
        };
        let jobs = jobs.clone();
        let access = access.clone();
        let _ = std::thread::Builder::new()
            .name("rrid-mgmt".into())
            .spawn(move || connection(stream, &access, jobs));
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

fn connection(mut stream: UnixStream, access: &Access, jobs: SyncSender<Job>) {
    if stream.set_read_timeout(Some(REQUEST_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let Some(peer) = peer_of(&stream).filter(|p| access.allows(p)) else {
        let who = peer_of(&stream);
        tracing::warn!(target: "rri::mgmt", uid = who.map(|p| p.uid), pid = who.map(|p| p.pid), "management connection refused: not root, rrid's user or its group");
        let _ = send(&mut stream, &Reply::Error("% Permission denied".into()));
        let _ = send(&mut stream, &Reply::Done { ok: false });
        return;
    };
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
    // What changes state is on record before it runs, with who asked for it.
    if let Ok(command) = exec::parse(&request.line) {
        if changes_state(&command) {
            tracing::info!(target: "rri::mgmt", uid = peer.uid, pid = peer.pid, command = %request.line, "management command");
        }
    }
    let (tx, rx) = mpsc::channel();
    let privileged = access.privileged(&peer);
    if jobs
        .send(Job::Exec {
            request,
            reply: tx,
            privileged,
        })
        .is_err()
    {
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

/// Whether a command changes rrid's state (and is logged with its client).
pub fn changes_state(command: &exec::Command) -> bool {
    !command.is_show() && !matches!(command, exec::Command::Check { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_may_use_the_socket() {
        let own = nix::unistd::geteuid().as_raw();
        let no_group = Access::new(None);
        let peer = |uid, gid| Peer { uid, gid, pid: 1 };
        assert!(no_group.allows(&peer(0, 0)));
        assert!(no_group.allows(&peer(own, 12345)));
        assert!(!no_group.allows(&peer(54321, 54321)) || own == 54321);
        let with_group = Access {
            own_uid: own,
            group: Some(4242),
            member_uids: vec![777],
        };
        assert!(with_group.allows(&peer(888, 4242)), "primary group");
        assert!(with_group.allows(&peer(777, 1)), "listed member");
        assert!(!with_group.allows(&peer(888, 1)));
    }

    #[test]
    fn what_changes_state_is_told_apart() {
        for (line, changes) in [
            ("show running-config", false),
            ("show crypto ipsec sa", false),
            ("clear crypto sa", true),
            ("debug crypto ipsec", true),
            ("configure replace /tmp/x.cfg", true),
        ] {
            let command = exec::parse(line).unwrap();
            assert_eq!(changes_state(&command), changes, "{line}");
        }
    }

    /// The socket appears with mode 0660 at once (bound in a private directory, renamed
    /// into place), and nothing of the staging is left behind.
    #[test]
    fn the_socket_is_made_with_its_final_mode() {
        let dir = std::env::temp_dir().join(format!("rrid-mgmt-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("rrid.sock");
        let (listener, _) = bind(&path, None).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o660);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(bind(&path, None).is_err(), "a live socket is not replaced");
        drop(listener);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
