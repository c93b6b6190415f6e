//! The timer queue: an indexed binary min-heap of deadlines on the monotonic clock, keyed by
//! slot. Arming, disarming and popping are O(log n); every array is sized once at creation, so
//! nothing allocates afterwards (a slot has at most one timer).

use std::time::{Duration, Instant};

const NONE: u32 = u32::MAX;

/// The most a wait is shortened by [`WakeEarly`]; later wake-ups are treated as preemption,
/// which waking early cannot fix.
const MAX_MARGIN: Duration = Duration::from_millis(1);

/// How much earlier than a timer's deadline to end a long wait, learned from how late waits
/// that end on their timeout return; and, when asked for, how long a final stretch before the
/// deadline to busy-poll instead of waiting ("precise timers").
///
/// On virtual machines a thread that sleeps for milliseconds often wakes 100-200 µs late
/// (the host deschedules an idle vCPU, and waking it again is slow), while a wait of a few
/// hundred microseconds is woken promptly (hypervisors poll briefly before descheduling a
/// halted vCPU). So a long wait ends [`margin`](WakeEarly::margin) before the deadline and a
/// short second wait covers the rest. The margin follows the recent peak lateness of timed
/// waits (decaying by 1/32 per wait, capped at [`MAX_MARGIN`]); on a machine that wakes on
/// time it stays near zero and costs nothing.
///
/// The short second wait still wakes late now and then, which is the p99 a timer sees. With a
/// spin window (`Dynamic::set_timer_spin`), the waits aim at the start of the window instead
/// of the deadline, and the window itself is covered by zero-timeout polls: the thread never
/// sleeps across the deadline, at the cost of a CPU busy for up to the window per expiry.
pub(crate) struct WakeEarly {
    margin: Duration,
    /// The final stretch before a deadline that is busy-polled; zero: never busy-poll.
    spin: Duration,
    /// The driver's timeout unit (it rounds waits up to it); zero when it waits exactly.
    granularity: Duration,
}

impl WakeEarly {
    pub(crate) fn new(granularity: Duration) -> WakeEarly {
        WakeEarly { margin: Duration::ZERO, spin: Duration::ZERO, granularity }
    }

    /// Sets the busy-poll window (zero: off).
    pub(crate) fn set_spin(&mut self, spin: Duration) {
        self.spin = spin;
    }

    /// The wait to ask of the OS, at `now`, to honour `deadline`; zero means poll without
    /// waiting (with a spin window: busy-poll, the deadline is within it).
    pub(crate) fn timeout(&self, now: Instant, deadline: Instant) -> Duration {
        plan(deadline.saturating_duration_since(now), self.margin, self.spin, self.granularity)
    }

    /// Records a wait of `asked` that began at `started` and ended at `now` with nothing to
    /// report (so it ran to its timeout).
    pub(crate) fn observe(&mut self, started: Instant, asked: Duration, now: Instant) {
        let late = now.saturating_duration_since(started + asked).min(MAX_MARGIN);
        self.margin = late.max(self.margin - self.margin / 32);
    }

    #[cfg(test)]
    pub(crate) fn margin(&self) -> Duration {
        self.margin
    }
}

/// The wait to ask of the OS when `left` remains before the earliest deadline, given the
/// learned `margin`, the busy-poll window `spin` and the driver's `granularity`.
fn plan(left: Duration, margin: Duration, spin: Duration, granularity: Duration) -> Duration {
    if spin.is_zero() {
        // A wait no longer than the margin is left whole: it is the precise final one.
        return if left > 2 * margin { left - margin } else { left };
    }
    if left <= spin {
        return Duration::ZERO;
    }
    // Aim the waits at the start of the window, not at the deadline: a wait that wakes late
    // by less than the window still leaves the deadline to the busy-poll. Long waits end the
    // margin early as above, so it takes a lateness of margin + window to miss.
    let to_window = left - spin;
    let ask = if to_window > 2 * margin { to_window - margin } else { to_window };
    if granularity.is_zero() {
        return ask;
    }
    // The driver rounds a wait up to its unit, which could carry it into the window (or past
    // the deadline): ask whole units, rounded down. A wait shorter than one unit is asked as
    // it is (the driver rounds it up, as without a window) rather than spun through, so a
    // spin never lasts longer than the window.
    if ask < granularity {
        return ask;
    }
    // The remainder is below one unit, so it fits a u64 of nanoseconds.
    ask - Duration::from_nanos((ask.as_nanos() % granularity.as_nanos()) as u64)
}

pub(crate) struct Timers {
    /// Slots, heap-ordered by deadline (earliest first). Never grows past its capacity (which
    /// only [`grow`](Timers::grow) raises).
    heap: Vec<u32>,
    /// Per slot, its index in `heap`, or `NONE` when unarmed.
    pos: Box<[u32]>,
    /// Per slot, its deadline (meaningful only while armed).
    deadline: Box<[Instant]>,
}

impl Timers {
    pub(crate) fn new(capacity: usize) -> Timers {
        let now = Instant::now();
        Timers {
            heap: Vec::with_capacity(capacity),
            pos: vec![NONE; capacity].into_boxed_slice(),
            deadline: vec![now; capacity].into_boxed_slice(),
        }
    }

    /// Makes room for slots below `capacity`.
    pub(crate) fn grow(&mut self, capacity: usize) {
        if capacity <= self.pos.len() {
            return;
        }
        self.heap.reserve_exact(capacity - self.heap.len());
        let mut pos = std::mem::take(&mut self.pos).into_vec();
        pos.resize(capacity, NONE);
        self.pos = pos.into();
        let mut deadline = std::mem::take(&mut self.deadline).into_vec();
        deadline.resize(capacity, Instant::now());
        self.deadline = deadline.into();
    }

    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // for io_uring's heap timers
    pub(crate) fn is_armed(&self, slot: u32) -> bool {
        self.pos.get(slot as usize).is_some_and(|&i| i != NONE)
    }

    /// `slot`'s deadline (meaningful only while it is armed).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // for io_uring's heap timers
    pub(crate) fn deadline(&self, slot: u32) -> Instant {
        self.deadline[slot as usize]
    }

    /// Arms `slot`'s timer for `at` (re-arms it if it was armed).
    pub(crate) fn arm(&mut self, slot: u32, at: Instant) {
        self.disarm(slot);
        self.deadline[slot as usize] = at;
        self.heap.push(slot);
        let i = self.heap.len() - 1;
        self.pos[slot as usize] = i as u32;
        self.sift_up(i);
    }

    /// Disarms `slot`'s timer; `false` if it was not armed.
    pub(crate) fn disarm(&mut self, slot: u32) -> bool {
        let i = self.pos[slot as usize];
        if i == NONE {
            return false;
        }
        let i = i as usize;
        self.pos[slot as usize] = NONE;
        let last = self.heap.pop().expect("an armed timer is in the heap");
        if i < self.heap.len() {
            self.heap[i] = last;
            self.pos[last as usize] = i as u32;
            self.sift_down(i);
            self.sift_up(self.pos[last as usize] as usize);
        }
        true
    }

    /// The earliest deadline, if any timer is armed.
    #[inline]
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.first().map(|&s| self.deadline[s as usize])
    }

    /// Disarms and returns a timer whose deadline is at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<u32> {
        let &slot = self.heap.first()?;
        if self.deadline[slot as usize] > now {
            return None;
        }
        self.disarm(slot);
        Some(slot)
    }

    fn less(&self, a: usize, b: usize) -> bool {
        self.deadline[self.heap[a] as usize] < self.deadline[self.heap[b] as usize]
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a] as usize] = a as u32;
        self.pos[self.heap[b] as usize] = b as u32;
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if !self.less(i, parent) {
                break;
            }
            self.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut min = i;
            if l < self.heap.len() && self.less(l, min) {
                min = l;
            }
            if r < self.heap.len() && self.less(r, min) {
                min = r;
            }
            if min == i {
                break;
            }
            self.swap(i, min);
            i = min;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_and_disarms() {
        let t0 = Instant::now();
        let mut timers = Timers::new(64);
        // A deterministic shuffle of 64 deadlines.
        for slot in 0..64u32 {
            timers.arm(slot, t0 + Duration::from_micros(((slot * 37) % 64) as u64));
        }
        for slot in (0..64).step_by(3) {
            assert!(timers.disarm(slot));
            assert!(!timers.disarm(slot));
        }
        assert_eq!(timers.heap.capacity(), 64);
        let mut last = t0;
        let mut popped = 0;
        while let Some(slot) = timers.pop_expired(t0 + Duration::from_secs(1)) {
            assert!(slot % 3 != 0);
            assert!(!timers.is_armed(slot));
            let at = timers.deadline[slot as usize];
            assert!(at >= last);
            last = at;
            popped += 1;
        }
        assert_eq!(popped, 64 - 22);
        assert!(timers.next().is_none());
    }
}

#[cfg(test)]
mod wake_tests {
    use super::*;

    #[test]
    fn margin_follows_lateness_and_decays() {
        let mut wake = WakeEarly::new(Duration::ZERO);
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_millis(10);
        // On time: waits are not shortened.
        assert_eq!(wake.timeout(t0, deadline), Duration::from_millis(10));
        wake.observe(t0, Duration::from_millis(10), t0 + Duration::from_millis(10));
        assert_eq!(wake.margin(), Duration::ZERO);

        // A wait that returns 200 µs late makes later long waits end 200 µs early ...
        let late = Duration::from_micros(200);
        wake.observe(t0, Duration::from_millis(10), t0 + Duration::from_millis(10) + late);
        assert_eq!(wake.margin(), late);
        assert_eq!(wake.timeout(t0, deadline), Duration::from_millis(10) - late);
        // ... but a short final wait is left whole, and a passed deadline asks for none.
        assert_eq!(wake.timeout(t0, t0 + Duration::from_micros(300)), Duration::from_micros(300));
        assert_eq!(wake.timeout(deadline, t0), Duration::ZERO);

        // Preemption-sized outliers are capped; on-time waits let the margin decay.
        wake.observe(t0, Duration::ZERO, t0 + Duration::from_secs(1));
        assert_eq!(wake.margin(), MAX_MARGIN);
        for _ in 0..200 {
            wake.observe(t0, Duration::from_millis(1), t0 + Duration::from_millis(1));
        }
        assert!(wake.margin() < Duration::from_micros(10), "{:?}", wake.margin());
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn without_a_window_the_plan_is_wake_early_alone() {
        let zero = Duration::ZERO;
        assert_eq!(plan(us(10_000), zero, zero, zero), us(10_000));
        assert_eq!(plan(us(10_000), us(200), zero, zero), us(9_800));
        assert_eq!(plan(us(300), us(200), zero, zero), us(300));
        assert_eq!(plan(zero, us(200), zero, zero), zero);
        // The driver's unit plays no part (the default behaviour is unchanged).
        assert_eq!(plan(us(1_500), zero, zero, us(1_000)), us(1_500));
    }

    #[test]
    fn with_a_window_waits_end_before_it_and_polls_cover_it() {
        let (zero, spin) = (Duration::ZERO, us(200));
        // Inside the window (or past the deadline): poll.
        assert_eq!(plan(us(200), zero, spin, zero), zero);
        assert_eq!(plan(us(50), us(300), spin, zero), zero);
        assert_eq!(plan(zero, zero, spin, zero), zero);
        // Before it: wait until it starts ...
        assert_eq!(plan(us(10_000), zero, spin, zero), us(9_800));
        assert_eq!(plan(us(201), zero, spin, zero), us(1));
        // ... a long wait ending the learned margin earlier still, a short one left whole.
        assert_eq!(plan(us(10_000), us(150), spin, zero), us(9_650));
        assert_eq!(plan(us(400), us(150), spin, zero), us(200));
        // A margin beyond the window does not make the loop poll outside it.
        assert_eq!(plan(us(1_000), us(1_000), spin, zero), us(800));
    }

    #[test]
    fn with_a_window_waits_are_whole_driver_units() {
        let (spin, ms) = (us(200), us(1_000));
        // Rounded down, so that the driver's rounding up cannot carry them into the window.
        assert_eq!(plan(us(10_000), Duration::ZERO, spin, ms), us(9_000));
        assert_eq!(plan(us(2_300), Duration::ZERO, spin, ms), us(2_000));
        assert_eq!(plan(us(2_200), Duration::ZERO, spin, ms), us(2_000));
        // Less than a unit to the window: asked as it is rather than polled through.
        assert_eq!(plan(us(900), Duration::ZERO, spin, ms), us(700));
        assert_eq!(plan(us(150), Duration::ZERO, spin, ms), Duration::ZERO);
    }

    #[test]
    fn the_window_is_settable_and_off_by_default() {
        let t0 = Instant::now();
        let mut wake = WakeEarly::new(Duration::ZERO);
        assert_eq!(wake.timeout(t0, t0 + us(300)), us(300));
        wake.set_spin(us(500));
        assert_eq!(wake.timeout(t0, t0 + us(300)), Duration::ZERO);
        assert_eq!(wake.timeout(t0, t0 + us(2_000)), us(1_500));
        wake.set_spin(Duration::ZERO);
        assert_eq!(wake.timeout(t0, t0 + us(300)), us(300));
    }
}
