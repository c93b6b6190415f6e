//! Setting up the io_uring backend's rings: what the kernel offers (probed once per process)
//! and the cheapest setup flags it accepts.

use std::io;
use std::sync::OnceLock;

use io_uring::{IoUring, Probe, opcode};

/// What the kernel offers, probed once per process.
pub(crate) struct Features {
    probe: Probe,
    /// Opcodes to treat as missing although the kernel has them (`CORIO_URING_DISABLE`).
    disabled: Vec<u8>,
    /// The setup flags in use, for logs and descriptions.
    pub(crate) setup: &'static str,
    /// Whether plain timeouts live in a user-space heap: the waits then need a timeout
    /// (`IORING_FEAT_EXT_ARG`, 5.11). Off without it, or with `timers` in
    /// `CORIO_URING_DISABLE`: every timeout is then a kernel op.
    pub(crate) heap_timers: bool,
    /// Whether a `MSG_WAITALL` send continues a partial send and fails its link when still
    /// short (Linux 5.19; detected by `IORING_OP_SOCKET`, of the same release). Off with
    /// `send_wait_all` in `CORIO_URING_DISABLE`, to exercise the refusal of older kernels.
    pub(crate) send_wait_all: bool,
    /// Whether the kernel has multishot accept (5.19, also detected by `IORING_OP_SOCKET`).
    /// Off with `accept_multi` in `CORIO_URING_DISABLE`: single accepts re-armed stand in
    /// (`multishot.rs`).
    pub(crate) accept_multi: bool,
    /// Whether the kernel has multishot receive (6.0, detected by `IORING_OP_SEND_ZC`, of the
    /// same release). Off with `recv_multi` in `CORIO_URING_DISABLE`: single selecting
    /// receives re-armed stand in (`multishot.rs`).
    pub(crate) recv_multi: bool,
    /// Whether ops can open straight into a chosen slot of the registered file table
    /// (`file_index`, 5.15; detected by `IORING_OP_LINKAT`, of the same release). Without it a
    /// direct op runs as its plain form and the backend installs what it opened
    /// (`Post::Install`). Off with `direct` in `CORIO_URING_DISABLE`.
    pub(crate) direct: bool,
    /// Whether the kernel picks a free slot itself (`IORING_FILE_INDEX_ALLOC`, 5.19; detected
    /// by `IORING_OP_SOCKET`). Without it a direct op into any slot is refused
    /// (`EOPNOTSUPP`): only the kernel knows which slots its direct ops filled. Off with
    /// `direct` in `CORIO_URING_DISABLE`.
    pub(crate) direct_alloc: bool,
    /// Whether rings try to register their own descriptor (`ring_fd.rs`; 5.18, else the
    /// registration fails and the plain descriptor is used). Off with `ring_fd` in
    /// `CORIO_URING_DISABLE`, to play an older kernel.
    pub(crate) ring_fd: bool,
    /// Whether to ask for incremental buffer rings (`IOU_PBUF_RING_INC`, 6.12: a kernel
    /// without them refuses the flag, see `pbuf.rs`). Off with `pbuf_inc` in
    /// `CORIO_URING_DISABLE`: groups take whole buffers, as before 6.12.
    pub(crate) pbuf_inc: bool,
    /// Whether receives may take bundles of buffers (`IORING_FEAT_RECVSEND_BUNDLE`, 6.10). Off
    /// with `bundle` in `CORIO_URING_DISABLE`: one buffer per completion, as before 6.10.
    pub(crate) bundles: bool,
}

impl Features {
    pub(crate) fn supports(&self, opcode: u8) -> bool {
        self.probe.is_supported(opcode) && !self.disabled.contains(&opcode)
    }
}

/// Parses `CORIO_URING_DISABLE`, a comma-separated list of the opcodes with fallbacks
/// (`socket`, `bind`, `listen`, `waitid`, `ftruncate`, `linkat`, `xattr`, `send_zc`,
/// `sendmsg_zc`, `read_multi`; and `msg_ring`, which has none: messages between rings are refused) to treat as missing: a way to exercise the fallbacks on a kernel that has
/// every opcode. (`timers`, also accepted, keeps every timeout in the
/// kernel, see [`heap_timers_disabled`]; `send_wait_all`, `accept_multi` and `recv_multi` act as a kernel
/// before 5.19 (6.0) for `MSG_WAITALL` sends and multishot accepts (receives), `direct` as
/// one before 5.15 for direct descriptors, `ring_fd` as one before 5.18 for the registered
/// ring descriptor, `pbuf_inc` as one before 6.12 for incremental buffer rings and `bundle` as
/// one before 6.10 for receive bundles, see [`disabled`].)
fn disabled_opcodes() -> Vec<u8> {
    let Ok(list) = std::env::var("CORIO_URING_DISABLE") else { return Vec::new() };
    list.split(',')
        .filter_map(|name| match name.trim() {
            "socket" => Some(opcode::Socket::CODE),
            "bind" => Some(opcode::Bind::CODE),
            "listen" => Some(opcode::Listen::CODE),
            "waitid" => Some(opcode::WaitId::CODE),
            "ftruncate" => Some(opcode::Ftruncate::CODE),
            "linkat" => Some(opcode::LinkAt::CODE),
            "send_zc" => Some(opcode::SendZc::CODE),
            "sendmsg_zc" => Some(opcode::SendMsgZc::CODE),
            // The four xattr opcodes came together: `GetXattr`'s answers for all (prep.rs).
            "xattr" => Some(opcode::GetXattr::CODE),
            // No fallback: a runtime notifies the target's event source instead.
            "msg_ring" => Some(opcode::MsgRingData::CODE),
            // Single selecting reads re-armed stand in (`multishot.rs`).
            "read_multi" => Some(opcode::ReadMulti::CODE),
            "timers" | "send_wait_all" | "accept_multi" | "recv_multi" | "direct" | "ring_fd" | "pbuf_inc"
            | "bundle" | "" => None,
            other => {
                log::warn!("CORIO_URING_DISABLE: no fallback for `{other}`; ignored");
                None
            }
        })
        .collect()
}

/// Whether `CORIO_URING_DISABLE` lists `timers`: every timeout a kernel op, as on kernels
/// without `EXT_ARG` (and as before the heap, for comparisons).
fn heap_timers_disabled() -> bool {
    disabled("timers")
}

/// Whether `CORIO_URING_DISABLE` lists `name`.
fn disabled(name: &str) -> bool {
    std::env::var("CORIO_URING_DISABLE").is_ok_and(|list| list.split(',').any(|item| item.trim() == name))
}

static FEATURES: OnceLock<Result<Features, i32>> = OnceLock::new();

/// Probes io_uring once per process: `Err(errno)` if a ring cannot be set up at all.
pub(crate) fn features() -> io::Result<&'static Features> {
    FEATURES
        .get_or_init(|| {
            let (ring, setup) = build(8).map_err(|e| e.raw_os_error().unwrap_or(libc::ENOSYS))?;
            let mut probe = Probe::new();
            ring.submitter().register_probe(&mut probe).map_err(|e| e.raw_os_error().unwrap_or(libc::ENOSYS))?;
            let p = ring.params();
            if !(p.is_feature_nodrop() && p.is_feature_submit_stable() && p.is_feature_rw_cur_pos()) {
                log::warn!("io_uring lacks NODROP/SUBMIT_STABLE/RW_CUR_POS (kernel < 5.6)");
                return Err(libc::ENOSYS);
            }
            let heap_timers = p.is_feature_ext_arg() && !heap_timers_disabled();
            let send_wait_all = probe.is_supported(opcode::Socket::CODE) && !disabled("send_wait_all");
            let accept_multi = probe.is_supported(opcode::Socket::CODE) && !disabled("accept_multi");
            let recv_multi = probe.is_supported(opcode::SendZc::CODE) && !disabled("recv_multi");
            let direct = probe.is_supported(opcode::LinkAt::CODE) && !disabled("direct");
            let direct_alloc = probe.is_supported(opcode::Socket::CODE) && !disabled("direct");
            let f = Features {
                probe,
                disabled: disabled_opcodes(),
                setup,
                heap_timers,
                send_wait_all,
                accept_multi,
                recv_multi,
                direct,
                direct_alloc,
                ring_fd: !disabled("ring_fd"),
                pbuf_inc: !disabled("pbuf_inc"),
                bundles: p.is_feature_recvsend_bundle() && !disabled("bundle"),
            };
            log::debug!(
                "io_uring: setup {}, user-space timers {}, socket {}, bind/listen {}, waitid {}",
                f.setup,
                f.heap_timers,
                f.supports(opcode::Socket::CODE),
                f.supports(opcode::Bind::CODE) && f.supports(opcode::Listen::CODE),
                f.supports(opcode::WaitId::CODE),
            );
            Ok(f)
        })
        .as_ref()
        .map_err(|e| io::Error::from_raw_os_error(*e))
}

/// Sets up a ring with the best flags the kernel accepts.
pub(super) fn build(entries: u32) -> io::Result<(IoUring, &'static str)> {
    type Setup = fn(&mut io_uring::Builder);
    let attempts: [(&'static str, Setup); 4] = [
        ("SINGLE_ISSUER|DEFER_TASKRUN", |b| {
            b.setup_single_issuer().setup_defer_taskrun();
        }),
        ("SINGLE_ISSUER|COOP_TASKRUN", |b| {
            b.setup_single_issuer().setup_coop_taskrun();
        }),
        ("COOP_TASKRUN", |b| {
            b.setup_coop_taskrun();
        }),
        ("none", |_| {}),
    ];
    let mut last = io::Error::from_raw_os_error(libc::EINVAL);
    for (name, setup) in attempts {
        let mut builder = IoUring::builder();
        builder.setup_clamp().setup_cqsize(entries * 2);
        setup(&mut builder);
        match builder.build(entries) {
            Ok(ring) => return Ok((ring, name)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}
