//! EAL initialisation and cleanup.
//!
//! DPDK's environment abstraction layer is process-global and can be initialised once: a
//! second `rte_eal_init` in one process is undefined or refused depending on where the first
//! stopped. [`Eal::init`] therefore succeeds at most once per process, and every later call
//! returns [`EalError::AlreadyInitialized`] without touching DPDK.
//!
//! What the EAL logs while it initialises is captured; on failure it becomes part of the
//! error (the lines that name the bad device or option), on success it is echoed to stderr
//! as DPDK would have printed it.

use std::ffi::{c_char, CStr, CString};
use std::path::PathBuf;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::error::{c_string, rte_errno, strerror, EalError};
use crate::sys;

/// Set by the first call to [`Eal::init`]; never cleared, since DPDK cannot initialise twice.
static INIT_ATTEMPTED: AtomicBool = AtomicBool::new(false);

/// Mempools dropped while some of their mbufs were still out. While any exist, the EAL is
/// not cleaned up, so that those mbufs stay valid memory.
pub(crate) static LEAKED_POOLS: AtomicUsize = AtomicUsize::new(0);

/// A handle on the initialised EAL. Clones share it; mempools and ports hold one, and the
/// EAL is cleaned up (`rte_eal_cleanup`, runtime directory removed) when the last is dropped.
#[derive(Clone, Debug)]
pub struct Eal {
    inner: Arc<EalInner>,
}

#[derive(Debug)]
struct EalInner {
    main_lcore: u32,
    runtime_dir: Option<PathBuf>,
}

impl Eal {
    /// Initialises the EAL with EAL options only (no program name, no `--`), e.g.
    /// `["--no-huge", "--no-pci", "-m", "512", "--file-prefix", "t1", "--vdev", "net_ring0"]`.
    ///
    /// # Errors
    /// [`EalError::AlreadyInitialized`] after any earlier attempt in this process;
    /// [`EalError::Init`] with DPDK's errno and log when `rte_eal_init` fails.
    pub fn init<I, S>(args: I) -> Result<Eal, EalError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut argv = vec!["rri".to_string()];
        argv.extend(args.into_iter().map(|s| s.as_ref().to_string()));
        Self::init_argv(argv).map(|(eal, _)| eal)
    }

    /// Initialises the EAL from a whole command line in DPDK's convention,
    /// `PROGRAM [EAL options] -- [application options]`, and returns the application options.
    ///
    /// # Errors
    /// As [`Eal::init`].
    pub fn init_argv(argv: Vec<String>) -> Result<(Eal, Vec<String>), EalError> {
        let c_args = argv
            .iter()
            .map(|a| CString::new(a.as_str()).map_err(|_| EalError::NulInArgument(a.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        if INIT_ATTEMPTED.swap(true, Ordering::SeqCst) {
            return Err(EalError::AlreadyInitialized);
        }
        // DPDK may keep pointers into argv (it stores some option values without copying),
        // so the strings live for the rest of the process.
        let c_args: &'static [CString] = Vec::leak(c_args);
        let mut ptrs: Vec<*mut c_char> = c_args.iter().map(|a| a.as_ptr().cast_mut()).collect();
        ptrs.push(ptr::null_mut());
        let argc = i32::try_from(c_args.len()).expect("argument count fits in an int");

        let capture = LogCapture::start();
        // SAFETY: argv holds argc valid NUL-terminated strings followed by a null pointer, all
        // alive for the rest of the process; this is the process's only rte_eal_init call
        // (guarded by INIT_ATTEMPTED). rte_eal_init may permute the pointer array, which we own.
        let parsed = unsafe { sys::rte_eal_init(argc, ptrs.as_mut_ptr()) };
        let errno = rte_errno();
        let log = capture.finish();

        if parsed < 0 {
            remove_runtime_dir_if_ours();
            return Err(EalError::Init {
                errno,
                message: strerror(errno),
                log,
            });
        }
        let missing = vdev_names(&argv)
            .into_iter()
            .find(|name| !device_probed(name));
        // rte_eal_init leaves argv[parsed] = program name and the application's options after.
        let first_app_arg = usize::try_from(parsed).expect("non-negative") + 1;
        let rest = ptrs[first_app_arg.min(c_args.len())..c_args.len()]
            .iter()
            .map(|&p| {
                // SAFETY: the entries are the pointers we passed in (permuted), each a live
                // NUL-terminated string of c_args.
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            })
            .collect();
        // SAFETY: the EAL is initialised; these read values it set during init.
        let (main_lcore, dir) =
            unsafe { (sys::rte_get_main_lcore(), sys::rte_eal_get_runtime_dir()) };
        let runtime_dir = Some(PathBuf::from(c_string(dir))).filter(|p| !p.as_os_str().is_empty());
        let eal = Eal {
            inner: Arc::new(EalInner {
                main_lcore,
                runtime_dir,
            }),
        };
        if let Some(device) = missing {
            drop(eal); // cleans up: nothing else holds it yet
            let log = lines_about(&log, &device);
            return Err(EalError::DeviceNotProbed { device, log });
        }
        for line in &log {
            eprintln!("{line}");
        }
        Ok((eal, rest))
    }

    /// The main lcore: the thread that called [`Eal::init`].
    pub fn main_lcore(&self) -> u32 {
        self.inner.main_lcore
    }

    /// The EAL's runtime directory (`/var/run/dpdk/PREFIX`), removed at cleanup.
    pub fn runtime_dir(&self) -> Option<&std::path::Path> {
        self.inner.runtime_dir.as_deref()
    }

    /// The socket (NUMA node) of the calling lcore.
    pub fn socket_id(&self) -> i32 {
        // SAFETY: rte_socket_id reads the calling thread's lcore configuration; no preconditions.
        let socket = unsafe { sys::rte_socket_id() };
        i32::try_from(socket).unwrap_or(-1)
    }
}

impl Drop for EalInner {
    fn drop(&mut self) {
        if crate::current_lcore() != Some(self.main_lcore) {
            // rte_eal_mp_wait_lcore and rte_eal_cleanup must run on the main lcore; a handle
            // dropped last elsewhere leaves the EAL to the end of the process.
            return;
        }
        // SAFETY: we are on the main lcore; waiting for workers has no other precondition.
        unsafe { sys::rte_eal_mp_wait_lcore() };
        if LEAKED_POOLS.load(Ordering::SeqCst) > 0 {
            // Some mbufs outlived their pool: keep the EAL's memory mapped for them.
            return;
        }
        // SAFETY: all workers are idle, every port and mempool handle is gone (they hold this
        // EAL), and no leaked pool has mbufs out, so no DPDK object is used after this.
        let ret = unsafe { sys::rte_eal_cleanup() };
        if ret != 0 {
            eprintln!("rte_eal_cleanup failed: {}", strerror(ret));
        }
        if let Some(dir) = &self.runtime_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The device names (up to the first comma) given with `--vdev` before any `--`.
fn vdev_names(argv: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    let mut args = argv.iter().skip(1).take_while(|a| *a != "--");
    while let Some(arg) = args.next() {
        let value = match arg.strip_prefix("--vdev") {
            Some("") => args.next().cloned(),
            Some(rest) => rest.strip_prefix('=').map(str::to_owned),
            None => None,
        };
        if let Some(value) = value {
            names.push(value.split(',').next().unwrap_or_default().to_string());
        }
    }
    names
}

/// Whether a device DPDK was asked to create exists: network devices as ports, crypto devices
/// as cryptodevs. Other kinds are not checked.
fn device_probed(name: &str) -> bool {
    let Ok(c_name) = CString::new(name) else {
        return false;
    };
    if name.starts_with("net_") {
        let mut port = 0u16;
        // SAFETY: the name is a valid C string; DPDK writes the port id on success.
        unsafe { sys::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut port) == 0 }
    } else if name.starts_with("crypto_") {
        // SAFETY: the name is a valid C string; the call only searches the device table.
        unsafe { sys::rte_cryptodev_get_dev_id(c_name.as_ptr()) >= 0 }
    } else {
        true
    }
}

/// The log lines that mention `device`, each with the line before it (where drivers say why).
fn lines_about(log: &[String], device: &str) -> Vec<String> {
    let mut picked: Vec<String> = Vec::new();
    for (i, line) in log.iter().enumerate() {
        if line.contains(device) {
            if let Some(prev) = i.checked_sub(1).map(|p| &log[p]) {
                if picked.last() != Some(prev) && !picked.contains(prev) {
                    picked.push(prev.clone());
                }
            }
            if !picked.contains(line) {
                picked.push(line.clone());
            }
        }
    }
    picked
}

/// After a failed init, removes the runtime directory unless another live process holds the
/// lock on its `config` file (a primary process using the same `--file-prefix`).
fn remove_runtime_dir_if_ours() {
    // SAFETY: rte_eal_get_runtime_dir returns a pointer to a static buffer (possibly empty).
    let dir = c_string(unsafe { sys::rte_eal_get_runtime_dir() });
    if dir.is_empty() {
        return;
    }
    let dir = PathBuf::from(dir);
    if !locked_by_other_process(&dir.join("config")) {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn locked_by_other_process(path: &std::path::Path) -> bool {
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    else {
        return false;
    };
    use std::os::fd::AsRawFd;
    // SAFETY: flock is a plain C struct; all-zero is a valid value that we fill in below.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: fd is open for the duration of the call; F_GETLK writes only into `lock`.
    let ret = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut lock) };
    ret == 0 && lock.l_type != libc::F_UNLCK as libc::c_short
}

/// Redirects DPDK's log into memory while the EAL initialises.
struct LogCapture {
    stream: *mut libc::FILE,
    /// Where open_memstream reports its buffer; a heap cell so C may write it at any time.
    out: *mut MemstreamOut,
}

struct MemstreamOut {
    buffer: *mut c_char,
    size: usize,
}

impl LogCapture {
    fn start() -> Self {
        let out = Box::into_raw(Box::new(MemstreamOut {
            buffer: ptr::null_mut(),
            size: 0,
        }));
        // SAFETY: `out` is a live heap allocation owned by this capture until finish(); the C
        // library writes the buffer pointer and size into it on flush and close.
        let stream = unsafe { libc::open_memstream(&raw mut (*out).buffer, &raw mut (*out).size) };
        if !stream.is_null() {
            // SAFETY: stream is a valid FILE*; DPDK writes to it until finish() replaces it.
            unsafe { sys::rte_openlog_stream(stream.cast()) };
        }
        LogCapture { stream, out }
    }

    fn finish(self) -> Vec<String> {
        let mut text = String::new();
        if !self.stream.is_null() {
            // SAFETY: a null stream returns DPDK to its default log stream, so DPDK no longer
            // writes to ours and closing it is sound; fclose flushes into `out`.
            unsafe {
                sys::rte_openlog_stream(ptr::null_mut());
                libc::fclose(self.stream);
            }
        }
        // SAFETY: `out` came from Box::into_raw in start() and is reclaimed once, here; after
        // fclose the C library no longer writes to it.
        let out = unsafe { Box::from_raw(self.out) };
        if !out.buffer.is_null() {
            // SAFETY: open_memstream's buffer holds `size` initialised bytes and was allocated
            // with malloc; it is read once and freed once.
            unsafe {
                let bytes = std::slice::from_raw_parts(out.buffer.cast::<u8>(), out.size);
                text = String::from_utf8_lossy(bytes).into_owned();
                libc::free(out.buffer.cast());
            }
        }
        text.lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }
}
