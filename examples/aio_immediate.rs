//! The immediate API: read two files of this repository with one `corio::aio::complete` call.
//!
//! Both reads go to the OS in one submission and run concurrently; `complete` returns when
//! both are done, with each read's own result (one failing does not hide the other).
//!
//! Run with `cargo run --example aio_immediate`.

use std::fs::File;
use std::io;
use std::path::Path;

use corio::aio::{self, op};

fn main() -> io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let paths = [root.join("Cargo.toml"), root.join("aio/Cargo.toml")];
    let files = [File::open(&paths[0])?, File::open(&paths[1])?];
    let mut bufs = [vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]];

    let [a, b] = &mut bufs;
    let results = aio::complete((op::Read::new(&files[0], a), op::Read::new(&files[1], b)))?;

    let results = [results.0, results.1];
    let mut errors = 0;
    for ((path, buf), result) in paths.iter().zip(&bufs).zip(results) {
        match result {
            Ok(n) => println!("=== {} ({n} bytes)\n{}", path.display(), String::from_utf8_lossy(&buf[..n])),
            Err(e) => {
                errors += 1;
                println!("=== {}: {e}", path.display());
            }
        }
    }
    println!("errors: {errors}");
    Ok(())
}
