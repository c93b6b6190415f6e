//! Errors: every failure is a [`std::io::Error`]; two conditions of this crate are matchable.
//!
//! Failures the OS reports keep their raw OS error and `ErrorKind`. Two outcomes are not OS
//! errors and carry a [`Condition`] payload instead:
//!
//! * **Canceled**: the operation was stopped by a [`Cancel`](crate::op::Cancel), by a failed
//!   soft-linked predecessor, by an expiring [`LinkTimeout`](crate::op::LinkTimeout), or by the
//!   caller (a coroutine being cancelled). Test with [`is_canceled`].
//! * **Expired**: a [`LinkTimeout`](crate::op::LinkTimeout) fired before the op it guards
//!   finished (the guarded op then ends Canceled). Test with [`is_expired`]; its kind is
//!   [`ErrorKind::TimedOut`].

use std::fmt;
use std::io::{self, ErrorKind};

/// The non-OS outcomes of an operation, carried inside an [`io::Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Condition {
    /// The operation was canceled before it could finish.
    Canceled,
    /// A link timeout fired before the operation it guards finished.
    Expired,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Condition::Canceled => "operation canceled",
            Condition::Expired => "link timeout expired",
        })
    }
}

impl std::error::Error for Condition {}

impl From<Condition> for io::Error {
    fn from(c: Condition) -> io::Error {
        let kind = match c {
            Condition::Canceled => ErrorKind::Other,
            Condition::Expired => ErrorKind::TimedOut,
        };
        io::Error::new(kind, c)
    }
}

/// The [`Condition`] an error carries, if it is one of this crate's conditions.
///
/// Looks through the [`OpFailed`](crate::OpFailed) wrapper that [`multi`](crate::multi) adds.
#[inline]
#[must_use]
pub fn condition(err: &io::Error) -> Option<Condition> {
    let inner = err.get_ref()?;
    if let Some(failed) = inner.downcast_ref::<crate::OpFailed>() {
        return condition(&failed.error);
    }
    inner.downcast_ref::<Condition>().copied()
}

/// Whether `err` means the operation was canceled.
#[inline]
#[must_use]
pub fn is_canceled(err: &io::Error) -> bool {
    condition(err) == Some(Condition::Canceled)
}

/// Whether `err` means a link timeout fired.
#[must_use]
pub fn is_expired(err: &io::Error) -> bool {
    condition(err) == Some(Condition::Expired)
}

/// A canceled error.
#[must_use = "this makes the error: it cancels nothing"]
pub fn canceled() -> io::Error {
    Condition::Canceled.into()
}

pub(crate) fn invalid_input(msg: &'static str) -> io::Error {
    io::Error::new(ErrorKind::InvalidInput, msg)
}

/// Turns a raw completion code (`>= 0` a value, `< 0` a negated OS error) into a result.
pub(crate) fn check(res: i32) -> io::Result<u32> {
    if res >= 0 {
        Ok(res as u32)
    } else if res == -crate::sys::ECANCELED {
        Err(canceled())
    } else {
        Err(io::Error::from_raw_os_error(-res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_are_matchable() {
        assert!(is_canceled(&canceled()));
        assert!(!is_expired(&canceled()));
        let e: io::Error = Condition::Expired.into();
        assert!(is_expired(&e));
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        assert!(is_canceled(&check(-crate::sys::ECANCELED).unwrap_err()));
        let ebadf = check(-crate::sys::EBADF).unwrap_err();
        assert_eq!(ebadf.raw_os_error(), Some(crate::sys::EBADF));
        assert_eq!(condition(&ebadf), None);
    }
}
