//! rrid alone on two virtual ports (no peers, no namespaces): a process the test starts, with
//! its configuration, socket, state and log in a scratch directory of its own, killed if the
//! test fails before stopping it.

#![allow(dead_code)] // each test binary uses part of it

use std::path::PathBuf;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};
use testkit::KillOnDrop;

const RRID: &str = env!("CARGO_BIN_EXE_rrid");

/// rrictl, from its own package (built here if the suite has not built it yet).
static RRICTL: LazyLock<PathBuf> = LazyLock::new(|| testkit::workspace_bin("rrictl"));

/// One rrid process.
pub struct Solo {
    pub child: KillOnDrop,
    pub dir: PathBuf,
}

impl Solo {
    /// rrid on lcores `lcores` (as `-l` takes them) with ports 0 and 1 of driver `driver`
    /// (`net_null`, `net_ring`, ...) bound to GigabitEthernet0/0 and 0/1, configured with
    /// `config`; `extra` goes after rrid's own options, `env` into its environment.
    pub fn start(
        tag: &str,
        lcores: &str,
        driver: &str,
        config: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Solo {
        let dir = testkit::scratch_dir(&format!("solo-{tag}"));
        std::fs::write(dir.join("solo.cfg"), config).unwrap();
        let child = Command::new(RRID)
            .envs(env.iter().copied())
            .args([
                "-l",
                lcores,
                "--no-huge",
                "--no-pci",
                "-m",
                "256",
                "--file-prefix",
            ])
            .arg(testkit::eal_prefix(&format!("solo-{tag}")))
            .args([
                "--vdev",
                &format!("{driver}0"),
                "--vdev",
                &format!("{driver}1"),
            ])
            .args(["--", "--config"])
            .arg(dir.join("solo.cfg"))
            .arg("--socket")
            .arg(dir.join("rrid.sock"))
            .arg("--state-dir")
            .arg(dir.join("state"))
            .args([
                "--port",
                "GigabitEthernet0/0=0",
                "--port",
                "GigabitEthernet0/1=1",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("rrid.log")).unwrap(),
            ))
            .spawn()
            .unwrap();
        Solo {
            child: KillOnDrop(child),
            dir,
        }
    }

    /// What rrid logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("rrid.log")).unwrap_or_default()
    }

    /// `rrictl --socket ... ARGS`.
    pub fn rrictl(&self, args: &[&str]) -> Output {
        Command::new(&*RRICTL)
            .arg("--socket")
            .arg(self.dir.join("rrid.sock"))
            .args(args)
            .output()
            .unwrap()
    }

    /// The output of `rrictl ARGS` once rrid answers it, waiting up to 30 s while rrid runs.
    ///
    /// # Panics
    /// When rrid exits or does not answer in time.
    pub fn when_up(&mut self, args: &[&str]) -> String {
        let began = Instant::now();
        loop {
            let out = self.rrictl(args);
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "rrid exited:\n{}",
                self.log()
            );
            assert!(began.elapsed() < Duration::from_secs(30), "{}", self.log());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// How rrid exited, waiting up to `secs`; `None` if it still runs.
    pub fn wait_exit(&mut self, secs: u64) -> Option<ExitStatus> {
        let began = Instant::now();
        while began.elapsed() < Duration::from_secs(secs) {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// SIGTERM, and how rrid exited (within 15 s).
    ///
    /// # Panics
    /// When it does not stop.
    pub fn stop(&mut self) -> ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.wait_exit(15).expect("rrid stops on SIGTERM")
    }
}

impl Drop for Solo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
