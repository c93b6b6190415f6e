//! `cfg(send_now)`: the target has `MSG_DONTWAIT` and `MSG_NOSIGNAL`, so a stream's write on
//! the posix backend may send at once without an op (`src/future/send_now.rs`).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(send_now)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if ["linux", "android", "freebsd", "netbsd", "openbsd", "dragonfly"].contains(&os.as_str()) {
        println!("cargo::rustc-cfg=send_now");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
