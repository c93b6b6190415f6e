//! A `Dynamic` in a `scope`: queue two reads of this repository's files (borrowing stack
//! buffers), then complete them as they finish.
//!
//! Run with `cargo run --example aio_dynamic`.

use std::fs::File;
use std::io;
use std::path::Path;

use corio::aio::{self, Mode, op::OpExt, op::Read};

fn main() -> io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let paths = [root.join("Cargo.toml"), root.join("aio/Cargo.toml")];
    let files = [File::open(&paths[0])?, File::open(&paths[1])?];
    let (mut first, mut second) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    let mut lens = [0usize; 2];

    // `scope` lets the ops borrow `files` and the buffers: it returns only once every op it
    // queued has completed.
    let errors = aio::scope(8, |ring| -> io::Result<usize> {
        ring.queue((Read::new(&files[0], &mut first).user_data(0), Read::new(&files[1], &mut second).user_data(1)))?;
        let mut errors = 0;
        while ring.in_flight() > 0 {
            ring.complete(Mode::Blocking, |c| {
                let index = c.user_data as usize;
                match c.output::<Read>() {
                    Ok(n) => lens[index] = n,
                    Err(e) => {
                        errors += 1;
                        eprintln!("reading {} failed: {e}", paths[index].display());
                    }
                }
            })?;
        }
        Ok(errors)
    })??;

    for ((path, buf), n) in paths.iter().zip([&first, &second]).zip(lens) {
        println!("=== {} ({n} bytes)\n{}", path.display(), String::from_utf8_lossy(&buf[..n]));
    }
    println!("errors: {errors}");
    Ok(())
}
