//! The op table: every op's raw form and its facts, declared once.
//!
//! Each op family file (`misc.rs`, `time.rs`, `rw.rs`, `fs.rs`, `net.rs`, `process.rs`,
//! `event.rs`) holds, next to its typed ops, a `<family>_ops!` macro with one **row** per op:
//!
//! ```text
//! /// Docs of the raw variant.
//! Read { fd: RawFd, buf: *mut u8, len: u32, offset: u64 }
//!     = { name: "read", output: Output::Len, consumer: true, file_io: true, ..Facts::DEFAULT }
//!     whole { Some(len as usize) };
//! ```
//!
//! - the variant and its fields become a variant of the flat [`RawOp`](super::RawOp) enum,
//!   what backends see (plain `Copy` parts: descriptors, pointers, lengths, flags);
//! - the braces after `=` are the op's [`Facts`], the properties the engines ask about
//!   (`op.facts().consumer`) instead of keeping lists of op kinds;
//! - the optional `whole { .. }` block is the byte count below which a successful result is a
//!   short transfer that fails a soft link (the fields are in scope, as `Copy` values);
//! - the optional `fixed <field>` names the field that may hold a slot of the registered file
//!   table instead of a descriptor (the op's `fixed` fact, and `RawOp::target_mut`): only
//!   these ops take a [`Fixed`](crate::op::Fixed) target.
//!
//! The families' macros pass the rows along a chain (each expands to the next one with its
//! own rows appended) that ends in [`define_raw_ops!`], invoked once in `op/mod.rs`. Rows
//! name types and constants by absolute paths (`crate::…`): they are expanded there.
//!
//! Adding an op therefore touches its family file (typed op and row), its io_uring mapping
//! (`backend/uring/prep.rs`) and its emulation (`backend/posix/`, and `backend/iocp/` where it
//! applies on Windows); see ARCHITECTURE.md, "Adding an op".

/// What a successful op produces, before its typed op converts it ([`decode`](fn@super::decode)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// Nothing: `Value::Unit`.
    Unit,
    /// A byte count: `Value::Len`.
    Len,
    /// A byte count and the registered buffer of the op's `OpState::Buf`: `Value::Buf`.
    LenBuf,
    /// A provided buffer (of the group in the op's `OpState::Group`) and its byte count, in
    /// one result (`dynamic/groups.rs`): `Value::Provided`.
    Provided,
    /// A new descriptor that the op opened (a file; a file handle on Windows).
    File,
    /// A new socket.
    Socket,
    /// A new socket and its peer's address (from the op's `OpState::Addr`).
    Accepted,
    /// Readiness events.
    Events,
    /// A received message (from the op's `OpState::Msg`).
    Message,
    /// A child's exit status (from the op's `OpState::Child`).
    Exit,
    /// A slot of the registered file table that the op filled (`Value::Fixed`): the op's
    /// chosen slot (its `slot` field), or the result's for `ANY_SLOT`.
    Fixed,
}

/// The facts about one op that engines and decoding ask about.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Facts {
    /// A short name for logs and errors (`OpFailed`, `Completion::op`).
    pub(crate) name: &'static str,
    /// What a success produces.
    pub(crate) output: Output,
    /// The op waits for something another op or process produces (data to read, a
    /// connection, an event, a child's exit). The posix driver attempts such ops again, before
    /// parking them, when a producer (any other op) started after them in the same pass.
    #[cfg_attr(windows, allow(dead_code))] // the posix driver is not built on Windows
    pub(crate) consumer: bool,
    /// An error result fails a soft link (the rest of the chain ends canceled). False for the
    /// ops the kernel completes without failing the link (`io_uring/fs.c`, `sync.c`, `net.c`
    /// complete them without `req_set_fail`).
    pub(crate) error_fails_link: bool,
    /// An error number that is this op's success (a timeout's `ETIME`); 0 for none.
    pub(crate) success_errno: i32,
    /// The op needs a socket (WASI preview 1 has none: such ops refuse to queue there, and
    /// the posix driver fails one that got past that); the IOCP driver reads its errors
    /// back through Winsock.
    #[cfg_attr(not(any(target_os = "wasi", windows)), allow(dead_code))] // read there only
    pub(crate) socket: bool,
    /// The op may target a regular file, which readiness does not apply to: the posix engine
    /// runs its blocking form on a worker when the descriptor cannot be polled.
    #[cfg_attr(windows, allow(dead_code))] // the posix driver is not built on Windows
    pub(crate) file_io: bool,
    /// The op may complete more than once (io_uring's multishot requests): every completion
    /// but the last says more will follow (`Completion::more`). Such an op is never linked,
    /// and is refused where each op must report once (`Dynamic::run`, tagged queueing).
    pub(crate) multishot: bool,
    /// The op's target may be a slot of the registered file table (`fixed <field>` in its
    /// row: that field holds the slot's index when the op is queued with a [`Fixed`] target,
    /// see `RawOp::target_mut`). io_uring sets `IOSQE_FIXED_FILE`; the engine resolves the
    /// slot to its descriptor when the op starts.
    ///
    /// [`Fixed`]: crate::op::Fixed
    pub(crate) fixed: bool,
}

impl Facts {
    /// The facts every row starts from (`..Facts::DEFAULT`): no output, not a consumer, an
    /// error fails the link.
    pub(crate) const DEFAULT: Facts = Facts {
        name: "",
        output: Output::Unit,
        consumer: false,
        error_fails_link: true,
        success_errno: 0,
        socket: false,
        file_io: false,
        multishot: false,
        fixed: false,
    };
}

/// Assembles the families' rows into `RawOp`, its `facts()`, `name()` and `whole_len()`, and
/// one `Facts` constant per op (`Facts::Read`, for the typed ops' names). The last link of
/// the chain that starts in `op/mod.rs`.
macro_rules! define_raw_ops {
    ([] $(
        $(#[$meta:meta])*
        $op:ident { $($field:ident : $ty:ty),* $(,)? } = { $($facts:tt)* } $(whole $whole:block)? $(fixed $target:ident)? ;
    )*) => {
        /// An operation in backend-neutral form, generated from the op table (`op/table.rs`).
        /// Pointers are valid until the op completes (the soundness contract of
        /// [`crate::Dynamic`]).
        ///
        /// On WASI the socket and child-process variants are never built (the socket ops
        /// refuse to queue there, the process op is not compiled) but stay, so that backends
        /// match on one shape everywhere.
        #[derive(Clone, Copy, Debug)]
        #[cfg_attr(target_os = "wasi", allow(dead_code))]
        pub enum RawOp {
            $( $(#[$meta])* $op { $($field: $ty),* }, )*
        }

        #[allow(non_upper_case_globals)]
        impl $crate::op::table::Facts {
            $(
                #[doc = concat!("The facts of `RawOp::", stringify!($op), "`.")]
                pub(crate) const $op: $crate::op::table::Facts = $crate::op::table::Facts {
                    fixed: $crate::op::table::fixed_or_not!($($target)?),
                    $($facts)*
                };
            )*
        }

        /// How many kinds of op the table has ([`RawOp::index`] is below it).
        pub(crate) const KINDS: usize = [$( stringify!($op) ),*].len();

        /// Each kind's name, by [`RawOp::index`].
        pub(crate) const KIND_NAMES: [&str; KINDS] = [$( $crate::op::table::Facts::$op.name ),*];

        impl RawOp {
            /// This op's position in the table (below [`KINDS`]): a dense index for counting
            /// ops by kind.
            #[inline(always)]
            pub(crate) fn index(&self) -> usize {
                #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
                enum Index { $( $op ),* }
                match self {
                    $( RawOp::$op { .. } => Index::$op as usize, )*
                }
            }

            /// This op's row of the op table.
            #[inline(always)]
            pub(crate) fn facts(&self) -> &'static $crate::op::table::Facts {
                match self {
                    $( RawOp::$op { .. } => &$crate::op::table::Facts::$op, )*
                }
            }

            /// This op's output kind (`facts().output`, as one table lookup: it is read for
            /// every completion).
            #[inline(always)]
            pub(crate) fn output(&self) -> $crate::op::table::Output {
                match self {
                    // `const`: a field of the constant, not a copy of the whole row per arm
                    // (which an unoptimized build makes, on the caller's stack).
                    $( RawOp::$op { .. } => const { $crate::op::table::Facts::$op.output }, )*
                }
            }

            /// A short name for logs and errors (every `Completion` carries it).
            #[inline(always)]
            pub(crate) fn name(&self) -> &'static str {
                match self {
                    $( RawOp::$op { .. } => const { $crate::op::table::Facts::$op.name }, )*
                }
            }

            /// The descriptor the op works on (its row's `fd` field), if it has one: for
            /// diagnostics (a runtime's dump of what its tasks wait on).
            #[allow(unused_variables, unreachable_code)]
            pub(crate) fn fd(&self) -> Option<$crate::raw::RawFd> {
                match *self {
                    $( RawOp::$op { $($field),* } => {
                        $( $crate::op::table::fd_field!($field, $field); )*
                        None
                    } )*
                }
            }

            /// The duration of a timeout (its row's `nanos` field), if the op is one.
            #[allow(unused_variables, unreachable_code)]
            pub(crate) fn timeout_nanos(&self) -> Option<u64> {
                match *self {
                    $( RawOp::$op { $($field),* } => {
                        $( $crate::op::table::nanos_field!($field, $field); )*
                        None
                    } )*
                }
            }

            /// The byte count below which a successful result is a short transfer (which
            /// fails a soft link, as the kernel decides it); `None` if no count is short.
            ///
            /// # Safety
            ///
            /// What the op points at (a vectored op's iovec array) must still be valid.
            #[allow(unused_variables, unused_unsafe)]
            pub(crate) unsafe fn whole_len(&self) -> Option<usize> {
                match *self {
                    $( RawOp::$op { $($field),* } => $crate::op::table::whole_or_none!($($whole)?), )*
                }
            }

            /// The field that holds the op's target (its row's `fixed` field), if the op may
            /// target a registered slot.
            #[allow(unused_variables)]
            #[inline]
            pub(crate) fn target_mut(&mut self) -> Option<&mut $crate::raw::RawFd> {
                match self {
                    $( RawOp::$op { $($field),* } => $crate::op::table::target_or_none!($($target)?), )*
                }
            }
        }
    };
}

/// A row's `whole` block, or `None` for a row without one.
macro_rules! whole_or_none {
    () => {
        None
    };
    ($whole:block) => {
        $whole
    };
}

/// A row's `fixed` field, as the op's `fixed` fact.
macro_rules! fixed_or_not {
    () => {
        false
    };
    ($target:ident) => {
        true
    };
}

/// A row's `fixed` field, as `RawOp::target_mut` returns it.
macro_rules! target_or_none {
    () => {
        None
    };
    ($target:ident) => {
        Some($target)
    };
}

/// In `RawOp::fd`: returns the field named `fd`, ignores any other.
macro_rules! fd_field {
    (fd, $value:ident) => {
        return Some($value)
    };
    ($other:ident, $value:ident) => {};
}

/// In `RawOp::timeout_nanos`: returns the field named `nanos`, ignores any other.
macro_rules! nanos_field {
    (nanos, $value:ident) => {
        return Some($value)
    };
    ($other:ident, $value:ident) => {};
}

pub(crate) use {define_raw_ops, fd_field, fixed_or_not, nanos_field, target_or_none, whole_or_none};
