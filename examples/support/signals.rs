//! Waiting for the signals the example servers act on: SIGINT and SIGTERM (shut down),
//! SIGUSR1 (print what the runtime is doing). The signals are blocked in the calling thread
//! before any other thread starts, so every thread inherits the mask and the signals stay
//! pending until [`Signals::wait`] takes them (`sigwait`): no handler runs in a random thread
//! in the middle of a task.

// Each includer uses a different subset.
#![allow(dead_code)]

use std::io;

/// What a signal asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT or SIGTERM.
    Stop,
    /// SIGUSR1.
    Dump,
}

/// The blocked set; see the module docs.
pub struct Signals {
    set: libc::sigset_t,
}

impl Signals {
    /// Blocks SIGINT, SIGTERM and SIGUSR1 in the calling thread. Call before starting threads.
    pub fn block() -> io::Result<Signals> {
        // SAFETY: a zeroed sigset_t is a valid argument to sigemptyset, which initialises it;
        // sigaddset and pthread_sigmask only read and write the set and the mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGUSR1] {
                libc::sigaddset(&mut set, signal);
            }
            let e = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if e != 0 {
                return Err(io::Error::from_raw_os_error(e));
            }
            Ok(Signals { set })
        }
    }

    /// Waits until one of the signals arrives.
    pub fn wait(&self) -> io::Result<Signal> {
        let mut signal = 0;
        // SAFETY: `self.set` was initialised by `block`; sigwait writes the signal number.
        let e = unsafe { libc::sigwait(&self.set, &mut signal) };
        if e != 0 {
            return Err(io::Error::from_raw_os_error(e));
        }
        Ok(if signal == libc::SIGUSR1 { Signal::Dump } else { Signal::Stop })
    }
}
