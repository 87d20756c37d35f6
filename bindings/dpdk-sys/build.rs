//! Generates the DPDK bindings at build time.
//!
//! Flags and libraries come from `pkg-config libdpdk`. bindgen's `wrap_static_fns` turns every
//! `static inline` function reached from `wrapper.h` into an out-of-line C wrapper, which is
//! compiled here with the same flags, so Rust calls DPDK's inline fast-path helpers without a
//! hand-written shim.
//!
//! A missing prerequisite (pkg-config, libdpdk, libclang) stops the build with one line that
//! names the setup command instead of pages of compiler or linker errors.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const SETUP_HINT: &str = "run `scripts/setup` (as root) to install it";

/// DPDK types whose packed layout transitively contains an aligned type; Rust rejects such
/// structs (E0588), so they are bound as opaque byte blobs. None of them is used by rri.
const OPAQUE_TYPES: &[&str] = &[
    "rte_l2tpv2_combined_msg_hdr",
    "rte_gtp_psc_generic_hdr",
    "rte_flow_item_gtp_psc",
];

fn fail(message: &str) -> ! {
    // One line, as the contract above promises; cargo prints it as the build's error.
    println!("cargo::error={message}");
    std::process::exit(0);
}

fn pkg_config(args: &[&str]) -> Result<String, String> {
    let output = Command::new("pkg-config")
        .args(args)
        .output()
        .map_err(|e| format!("pkg-config could not be run ({e}): {SETUP_HINT}"))?;
    if !output.status.success() {
        return Err(format!(
            "DPDK development files (libdpdk) were not found by pkg-config: {SETUP_HINT}"
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn main() {
    println!("cargo::rerun-if-changed=wrapper.h");
    println!("cargo::rerun-if-changed=build.rs");
    for var in ["PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR", "LIBCLANG_PATH"] {
        println!("cargo::rerun-if-env-changed={var}");
    }

    let version = pkg_config(&["--modversion", "libdpdk"]).unwrap_or_else(|e| fail(&e));
    if !version.starts_with("22.11") {
        fail(&format!(
            "DPDK 22.11 is required, pkg-config found libdpdk {version}: {SETUP_HINT}"
        ));
    }
    let cflags: Vec<String> = pkg_config(&["--cflags", "libdpdk"])
        .unwrap_or_else(|e| fail(&e))
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let libs = pkg_config(&["--libs", "libdpdk"]).unwrap_or_else(|e| fail(&e));

    for flag in libs.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo::rustc-link-search=native={dir}");
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo::rustc-link-lib=dylib={lib}");
        }
    }

    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let header = manifest_dir.join("wrapper.h");
    let static_fns = out_dir.join("dpdk_static_fns");

    let mut builder = bindgen::Builder::default()
        .header(header.to_string_lossy())
        .clang_args(&cflags)
        .allowlist_function("rte_.*|rri_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*|rte_.*")
        // Takes an SSE vector by value, which has no stable Rust FFI type.
        .blocklist_function("rte_lpm_lookupx4")
        .derive_default(true)
        .derive_debug(true)
        .layout_tests(true)
        .generate_comments(false)
        .generate_inline_functions(true)
        .wrap_static_fns(true)
        .wrap_static_fns_path(&static_fns)
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::Consts)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for ty in OPAQUE_TYPES {
        builder = builder.opaque_type(ty);
    }

    // bindgen panics when libclang cannot be loaded; turn that into the one-line error.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let generated =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || builder.generate()));
    std::panic::set_hook(previous_hook);
    let bindings = match generated {
        Ok(Ok(bindings)) => bindings,
        Ok(Err(e)) => fail(&format!(
            "bindgen could not read the DPDK headers ({e}): {SETUP_HINT}"
        )),
        Err(_) => fail(&format!(
            "libclang was not found (bindgen needs it to read the DPDK headers): {SETUP_HINT}"
        )),
    };
    bindings
        .write_to_file(out_dir.join("bindings.rs"))
        .expect("OUT_DIR is writable");

    let mut build = cc::Build::new();
    build
        .file(static_fns.with_extension("c"))
        .include(&manifest_dir)
        .opt_level(3)
        .warnings(false);
    // The same flags bindgen saw: include paths, `-include rte_config.h`, `-march=...`.
    let mut flags = cflags.iter();
    while let Some(flag) = flags.next() {
        if flag == "-include" {
            if let Some(file) = flags.next() {
                build.flag("-include").flag(file);
            }
        } else {
            build.flag(flag);
        }
    }
    build.compile("dpdk_static_fns");
}
