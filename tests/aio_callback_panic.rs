//! A panic in a completion callback leaves the `Dynamic` consistent: the remaining ops are
//! still reported later, and dropping it does not hang.

use std::panic::{AssertUnwindSafe, catch_unwind};

use corio::aio::op::{Nop, OpExt};
use corio::aio::{Dynamic, Mode};

#[test]
fn panicking_callback_loses_no_completion() {
    let mut ring = Dynamic::new(16).unwrap();
    ring.queue((Nop::new().user_data(1), Nop::new().user_data(2), Nop::new().user_data(3))).unwrap();
    let first = catch_unwind(AssertUnwindSafe(|| {
        ring.complete(Mode::Blocking, |c| panic!("callback saw {}", c.user_data)).unwrap();
    }));
    assert!(first.is_err());
    assert_eq!(ring.in_flight(), 2, "only the op whose callback panicked is reaped");
    let mut seen = Vec::new();
    ring.complete_all(|c| seen.push(c.user_data)).unwrap();
    seen.sort();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|u| [1, 2, 3].contains(u)));
}
