//! The registered file table of a [`Dynamic`]: [`Dynamic::register_files`] and
//! [`Dynamic::install_file`]. Ops name its slots with [`Fixed`] (see [`crate::op::target`]),
//! direct ops fill them ([`crate::op::direct`]), [`Close::fixed`](crate::op::Close::fixed)
//! empties them.
//!
//! The table lives in the backend: io_uring's own (a sparse `IORING_REGISTER_FILES2`, filled
//! by `IORING_REGISTER_FILES_UPDATE2`, `file_index` and `IORING_OP_CLOSE` with a file index),
//! the emulations' in `backend/emu/files.rs`. It owns its files either way: they are closed
//! when the `Dynamic` drops (after every op drained; on io_uring when the kernel tears the
//! ring down, which may finish shortly after the drop returns).

use std::io;

use super::Dynamic;
use crate::backend::Backend;
use crate::error::invalid_input;
use crate::op::Fixed;
use crate::op::target::MAX_FILES;

impl Dynamic<'_> {
    /// Creates this `Dynamic`'s registered file table: `capacity` empty slots (at most
    /// 2^20), which ops can then name instead of a descriptor ([`Fixed`]). Once per
    /// `Dynamic`: a second call fails with `ErrorKind::AlreadyExists`.
    ///
    /// Slots are filled by [`install_file`](Dynamic::install_file) and by the
    /// [direct](crate::op::direct) ops (`Accept::direct`, `OpenAt::direct`,
    /// `Socket::direct`, `AcceptMulti::direct`), and emptied by
    /// [`Close::fixed`](crate::op::Close::fixed). The table owns its files: dropping the
    /// `Dynamic` closes those still in it.
    ///
    /// On io_uring an op on a slot spares the kernel looking the descriptor up (and taking a
    /// reference to its file) for every op (`IOSQE_FIXED_FILE`); the posix and IOCP backends
    /// keep a table of descriptors and look the slot up when the op starts, so the same
    /// program runs everywhere.
    ///
    /// ```
    /// use corio_aio::op::{self, Fixed};
    /// let path = std::env::temp_dir().join("corio-doc-register-files");
    /// std::fs::write(&path, b"registered")?;
    /// let mut ring = corio_aio::Dynamic::new(4)?;
    /// ring.register_files(8)?;
    /// let slot = ring.run(op::OpenAt::new(&path).direct(None), |_| {})??; // any free slot
    /// let mut buf = [0u8; 10];
    /// let n = ring.run(op::Read::new(&slot, &mut buf).offset(0), |_| {})??;
    /// assert_eq!(&buf[..n], b"registered");
    /// ring.run(op::Close::fixed(slot), |_| {})??;
    /// # std::fs::remove_file(&path)?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn register_files(&mut self, capacity: u32) -> io::Result<()> {
        if self.file_slots > 0 {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "this Dynamic has a registered file table already",
            ));
        }
        if capacity == 0 || capacity > MAX_FILES {
            return Err(invalid_input("a registered file table has 1 to 2^20 slots"));
        }
        self.backend.register_files(capacity)?;
        self.file_slots = capacity;
        Ok(())
    }

    /// The number of slots of the registered file table (0 without one).
    #[must_use]
    pub fn file_slots(&self) -> u32 {
        self.file_slots
    }

    /// Puts `file` into `slot` of the registered file table, which owns it from here on
    /// (ops name it by `slot`; it is closed by [`Close::fixed`](crate::op::Close::fixed),
    /// or when the `Dynamic` drops). A slot that held a file is replaced: that file is closed
    /// (ops in flight on it end as on a `Close` of it: canceled on the emulations; on
    /// io_uring they keep their own reference).
    ///
    /// Fails with `ErrorKind::InvalidInput` for a slot beyond the table or without a table;
    /// `file` is closed then, and the table is unchanged.
    ///
    /// ```
    /// use corio_aio::op::{self, Fixed};
    /// let file = std::fs::File::open("/dev/zero")?;
    /// let mut ring = corio_aio::Dynamic::new(4)?;
    /// ring.register_files(2)?;
    /// ring.install_file(Fixed(1), file)?;
    /// let mut buf = [1u8; 4];
    /// assert_eq!(ring.run(op::Read::new(&Fixed(1), &mut buf), |_| {})??, 4);
    /// assert_eq!(buf, [0; 4]);
    /// let other = std::fs::File::open("/dev/zero")?;
    /// assert!(ring.install_file(Fixed(2), other).is_err()); // beyond the table
    /// # std::io::Result::Ok(())
    /// ```
    pub fn install_file(&mut self, slot: Fixed, file: impl Into<crate::sys::Owned>) -> io::Result<()> {
        let file = file.into();
        if self.file_slots == 0 {
            return Err(invalid_input("no registered file table: call Dynamic::register_files first"));
        }
        if slot.0 >= self.file_slots {
            return Err(invalid_input("a slot beyond the registered file table"));
        }
        self.backend.install_file(slot.0, file)
    }
}
