//! Compiles the AES-GCM shims (`shim.c`) and links intel-ipsec-mb (Debian: libipsec-mb-dev).
//! A missing header stops the build with one line naming the setup command.

fn main() {
    println!("cargo::rerun-if-changed=shim.c");
    if !std::path::Path::new("/usr/include/intel-ipsec-mb.h").exists()
        && std::env::var_os("IPSEC_MB_INCLUDE").is_none()
    {
        println!(
            "cargo::error=intel-ipsec-mb.h not found (apt package libipsec-mb-dev): run `scripts/setup` (as root) to install it"
        );
        return;
    }
    let mut build = cc::Build::new();
    build.file("shim.c").flag_if_supported("-Wall");
    if let Some(dir) = std::env::var_os("IPSEC_MB_INCLUDE") {
        build.include(dir);
    }
    build.compile("rri_imb_shim");
    println!("cargo::rustc-link-lib=dylib=IPSec_MB");
}
