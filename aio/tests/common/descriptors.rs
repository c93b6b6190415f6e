//! Running the process out of descriptors (`EMFILE`) for a while, to test what needs a new
//! one (a duplicate, an accepted connection) at the limit. Tests using it must not run at
//! once with tests that open descriptors (their binaries make them take turns).

/// The process out of descriptors: the soft limit lowered to at most 512 and every number
/// below it taken by duplicates of one socket; both undone on drop (also when a test fails).
pub struct ExhaustedDescriptors {
    limit: libc::rlimit,
    filler: Vec<std::net::TcpStream>,
}

impl ExhaustedDescriptors {
    /// Takes every free descriptor number with duplicates of `socket`.
    pub fn new(socket: &std::net::TcpStream) -> ExhaustedDescriptors {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `getrlimit` writes into `limit`, which lives across the call.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
        let lowered = libc::rlimit { rlim_cur: limit.rlim_cur.min(512), ..limit };
        // SAFETY: `setrlimit` reads `lowered`, which lives across the call; lowering the soft
        // limit below the hard one is always allowed.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
        let mut this = ExhaustedDescriptors { limit, filler: Vec::new() };
        let error = loop {
            match socket.try_clone() {
                Ok(dup) => this.filler.push(dup),
                Err(e) => break e,
            }
        };
        assert_eq!(error.raw_os_error(), Some(libc::EMFILE), "{error}");
        this
    }
}

impl Drop for ExhaustedDescriptors {
    fn drop(&mut self) {
        self.filler.clear();
        // SAFETY: `setrlimit` reads `self.limit`, the soft and hard limits the process had.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &self.limit) };
    }
}
