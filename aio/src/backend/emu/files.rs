//! The emulations' registered file table (io_uring's fixed files, `Dynamic::register_files`):
//! slot → owned descriptor (a handle or socket on Windows), kept by the engine.
//!
//! The engine resolves an op's slot when the op starts (as the kernel does at issue), so an
//! op behind a link sees what earlier ops of its chain did to the table:
//!
//! * an op with a [`Fixed`](crate::op::Fixed) target gets the slot's descriptor in its target
//!   field (`RawOp::target_mut`); an empty slot, one beyond the table or a missing table
//!   fails it with `EBADF`;
//! * a `CloseFixed` takes the descriptor out of its slot, cancels the ops parked on it
//!   (`Driver::closing`, as a `Close` does) and closes it at once (`EBADF` for an empty slot,
//!   `EINVAL` beyond the table, `ENXIO` without one);
//! * a direct op (`AcceptDirect`, …) runs as its plain form; the descriptor it returns is
//!   installed when it completes ([`Files::install`]), and its slot is the op's result. If
//!   that fails (a full table, a slot beyond it) the descriptor is closed and the op fails.
//!
//! A slot that is filled again (an install into it, a direct op choosing it) closes the file
//! it held after the driver canceled the ops parked on it (`Driver::closing`), as a `Close`
//! would. The table owns its files: dropping it (with the engine, once the `Dynamic` drained
//! every op) closes them.

use std::io;

use super::{Driver, Engine, Stop};
use crate::op::RawOp;
use crate::op::table::Output;
use crate::op::target::ANY_SLOT;
use crate::raw::RawFd;
use crate::sys;

/// Whether `op` (besides a slot target) uses the table: a direct op or a `CloseFixed`.
#[inline]
pub(super) fn uses_files(op: &RawOp) -> bool {
    matches!(op, RawOp::CloseFixed { .. }) || op.output() == Output::Fixed
}

impl<D: Driver> Engine<D> {
    /// The form of `op` (which uses the table) that the driver runs, or (`Err`) the op's
    /// result at once: an error, or a slot closed here.
    #[cold]
    pub(super) fn files_start(&mut self, op: RawOp, fixed: bool) -> Result<RawOp, i32> {
        // The kernel's answers: a slot target without a table is as bad as an empty slot; a
        // close of a slot needs a table (`ENXIO`) and a slot within it (`EINVAL`).
        if let RawOp::CloseFixed { slot } = op {
            let file = self.files.as_mut().ok_or(-ENXIO)?.take(slot)?;
            // Closed here, not by a driver's `Close`: one canceled before it ran (a queued
            // pool job) would leave the descriptor to nobody. As io_uring's close of a slot,
            // which drops the table's reference, it does not wait for a pool worker; ops
            // parked on the file end canceled first, as for a `Close`.
            self.driver.closing(raw_of(&file));
            drop(file);
            return Err(0);
        }
        let mut op = op.direct().map_or(op, |(plain, _)| plain);
        if fixed && let Some(target) = op.target_mut() {
            *target = self.files.as_ref().ok_or(-EBADF)?.resolve(*target as u32)?;
        }
        Ok(op)
    }

    /// A driver's result `res` for op `s`: for a direct op, the slot its new descriptor went
    /// into (or the error that closed it).
    #[inline]
    pub(super) fn driver_result(&mut self, s: u32, res: i32) -> i32 {
        let rec = &self.recs[s as usize];
        if !rec.files {
            return res;
        }
        if !self.ended_by_files.is_empty()
            && let Some(i) = self.ended_by_files.iter().position(|&(e, _)| e == s)
        {
            // The final report of a multishot op the table ended: its error.
            return self.ended_by_files.swap_remove(i).1;
        }
        if res < 0 {
            return res;
        }
        match rec.op.direct() {
            Some((_, dest)) => self.install_result(dest, res),
            None => res,
        }
    }

    /// Ends multishot op `s`, whose last result the table refused with `err`: stopped now if
    /// the driver can, else its final report (canceled) will carry `err`.
    #[cold]
    pub(super) fn end_by_files(&mut self, s: u32, err: i32) {
        match self.driver.cancel(s) {
            Stop::Parked | Stop::Queued => self.finish(s, err),
            Stop::Running | Stop::Requested => self.ended_by_files.push((s, err)),
        }
    }

    /// A result of multishot direct op `s` reported in the same poll as the one the table
    /// refused (which ended it): what it opened is closed.
    #[cold]
    pub(super) fn drop_late_result(&mut self, s: u32, res: i32) {
        if res >= 0 && self.recs[s as usize].op.direct().is_some() {
            // SAFETY: a plain accept succeeded: `res` is a new descriptor nothing else owns.
            drop(unsafe { owned_from_result(res) });
        }
    }

    #[cold]
    fn install_result(&mut self, dest: u32, res: i32) -> i32 {
        // SAFETY: a plain open, accept or socket op succeeded: `res` is its new descriptor,
        // which nothing else owns (the op's result is not decoded as one: it is direct).
        let file = unsafe { owned_from_result(res) };
        // Without a table the kernel fails a chosen slot with ENXIO and "any slot" with ENFILE.
        let Some(files) = self.files.as_mut() else { return if dest == ANY_SLOT { -ENFILE } else { -ENXIO } };
        match files.install(dest, file) {
            Ok((slot, old)) => {
                if let Some(old) = old {
                    self.driver.closing(raw_of(&old));
                }
                slot as i32
            }
            Err(e) => e,
        }
    }

    /// `Backend::register_files` of the engines.
    pub(super) fn create_files(&mut self, capacity: u32) -> io::Result<()> {
        if self.files.is_some() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "a registered file table exists"));
        }
        self.files = Some(Files::new(capacity));
        Ok(())
    }

    /// `Backend::install_file` of the engines.
    pub(super) fn install(&mut self, slot: u32, file: sys::Owned) -> io::Result<()> {
        let files = self.files.as_mut().ok_or_else(|| io::Error::from_raw_os_error(ENXIO))?;
        if slot == ANY_SLOT {
            return Err(io::Error::from_raw_os_error(sys::EINVAL));
        }
        let (_, old) = files.install(slot, file).map_err(|e| io::Error::from_raw_os_error(-e))?;
        if let Some(old) = old {
            self.driver.closing(raw_of(&old));
        }
        Ok(())
    }
}

/// The error numbers the table reports, as io_uring does.
#[cfg(not(windows))]
mod errno {
    pub(super) const EBADF: i32 = libc::EBADF;
    pub(super) const ENXIO: i32 = libc::ENXIO;
    pub(super) const ENFILE: i32 = libc::ENFILE;
}
#[cfg(windows)]
mod errno {
    use windows_sys::Win32::Foundation as f;
    pub(super) const EBADF: i32 = f::ERROR_INVALID_HANDLE as i32;
    pub(super) const ENXIO: i32 = f::ERROR_INVALID_FUNCTION as i32;
    pub(super) const ENFILE: i32 = f::ERROR_TOO_MANY_OPEN_FILES as i32;
}
use errno::{EBADF, ENFILE, ENXIO};

/// The table: `None` for an empty slot.
pub(crate) struct Files {
    slots: Vec<Option<sys::Owned>>,
    /// Where the search for a free slot starts (every slot below it was full when it moved).
    free_from: usize,
}

impl Files {
    pub(crate) fn new(capacity: u32) -> Files {
        Files { slots: (0..capacity).map(|_| None).collect(), free_from: 0 }
    }

    /// The descriptor in `slot`, or `-EBADF`.
    pub(crate) fn resolve(&self, slot: u32) -> Result<RawFd, i32> {
        match self.slots.get(slot as usize) {
            Some(Some(file)) => Ok(raw_of(file)),
            _ => Err(-EBADF),
        }
    }

    /// Empties `slot`, handing out its file; `-EBADF` if it holds none, `-EINVAL` beyond the
    /// table.
    pub(crate) fn take(&mut self, slot: u32) -> Result<sys::Owned, i32> {
        let file = self.slots.get_mut(slot as usize).ok_or(-sys::EINVAL)?.take().ok_or(-EBADF)?;
        self.free_from = self.free_from.min(slot as usize);
        Ok(file)
    }

    /// Puts `file` into slot `dest` (or the first free one for `ANY_SLOT`); returns the slot
    /// and the file it replaced. On failure (`-EINVAL` beyond the table, `-ENFILE` if no slot
    /// is free) `file` is closed and nothing changed.
    pub(crate) fn install(&mut self, dest: u32, file: sys::Owned) -> Result<(u32, Option<sys::Owned>), i32> {
        let slot = if dest == ANY_SLOT {
            let free = self.slots[self.free_from..].iter().position(Option::is_none);
            match free {
                Some(i) => self.free_from + i,
                None => {
                    self.free_from = self.slots.len();
                    return Err(-ENFILE);
                }
            }
        } else if (dest as usize) < self.slots.len() {
            dest as usize
        } else {
            return Err(-sys::EINVAL);
        };
        let old = self.slots[slot].replace(file);
        if dest == ANY_SLOT {
            self.free_from = slot + 1;
        }
        Ok((slot as u32, old))
    }
}

#[cfg(not(windows))]
fn raw_of(file: &sys::Owned) -> RawFd {
    std::os::fd::AsRawFd::as_raw_fd(file)
}

#[cfg(windows)]
fn raw_of(file: &sys::Owned) -> RawFd {
    file.raw()
}

/// Takes ownership of a descriptor a plain op just returned (a positive result).
///
/// # Safety
///
/// `res` is a new descriptor (a handle or socket on Windows) that nothing else owns.
pub(crate) unsafe fn owned_from_result(res: i32) -> sys::Owned {
    #[cfg(not(windows))]
    // SAFETY: as the caller guarantees.
    return unsafe { std::os::fd::FromRawFd::from_raw_fd(res) };
    #[cfg(windows)]
    // SAFETY: as the caller guarantees (the IOCP driver reports handles and sockets as
    // positive `i32`s).
    return unsafe { sys::OwnedSource::from_raw(res as u32 as RawFd) };
}

// Not on WASI: no executable to open as a file there.
#[cfg(all(test, not(target_os = "wasi")))]
mod tests {
    use super::*;

    fn file() -> sys::Owned {
        sys::Owned::from(std::fs::File::open(std::env::current_exe().unwrap()).unwrap())
    }

    #[test]
    fn any_slot_fills_the_first_free_and_full_is_enfile() {
        let mut t = Files::new(2);
        assert_eq!(t.install(ANY_SLOT, file()).map(|(s, old)| (s, old.is_none())), Ok((0, true)));
        assert_eq!(t.install(ANY_SLOT, file()).map(|(s, old)| (s, old.is_none())), Ok((1, true)));
        assert_eq!(t.install(ANY_SLOT, file()).err(), Some(-ENFILE));
        assert!(t.take(0).is_ok());
        assert_eq!(t.take(0).err(), Some(-EBADF));
        assert_eq!(t.take(2).err(), Some(-sys::EINVAL));
        assert_eq!(t.install(ANY_SLOT, file()).map(|(s, _)| s), Ok(0));
        assert_eq!(t.install(2, file()).err(), Some(-sys::EINVAL));
        assert!(t.install(1, file()).unwrap().1.is_some(), "a chosen slot is replaced");
        assert_eq!(t.resolve(7), Err(-EBADF));
        assert!(t.resolve(1).is_ok());
    }
}
