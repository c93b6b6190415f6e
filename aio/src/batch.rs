//! Batches: tuples, arrays and `Vec`s of ops, queued and completed together.

use std::fmt;
use std::io;
use std::mem::MaybeUninit;

use crate::id::Id;
use crate::op::sealed::Prepare;
use crate::op::{Entry, IntoEntry, Op};
use crate::raw::{Link, Value};

/// A completed op as the immediate API keeps it until the whole batch is done.
#[derive(Debug)]
pub struct Done {
    pub(crate) result: io::Result<Value>,
}

/// The error [`multi`](crate::multi) returns: which op of the batch failed first, and how.
///
/// It arrives inside an `io::Error` of the same kind as the op's own error; get it back with
/// `err.get_ref().and_then(|e| e.downcast_ref::<OpFailed>())`. [`is_canceled`](crate::is_canceled)
/// and [`is_expired`](crate::is_expired) look through it.
#[derive(Debug)]
#[non_exhaustive]
pub struct OpFailed {
    /// Position of the op in the batch.
    pub index: usize,
    /// The op's name (`"recv"`, `"openat"`, …).
    pub op: &'static str,
    /// The op's own error.
    pub error: io::Error,
}

impl fmt::Display for OpFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op {} ({}) failed: {}", self.index, self.op, self.error)
    }
}

impl std::error::Error for OpFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

pub(crate) mod sealed {
    use super::*;

    /// Receives the ops of a batch one by one.
    pub trait Visit {
        fn op<P: Prepare>(&mut self, link: Link, user_data: u64, op: P) -> io::Result<()>;
    }

    /// The crate-private half of [`Batch`].
    pub trait BatchImpl: Sized {
        type Ids;
        type Outputs;
        type Results;
        type Values: AsMut<[Option<Done>]>;
        fn len(&self) -> usize;
        fn visit<V: Visit>(self, v: &mut V) -> io::Result<()>;
        /// The batch's ids from the id of each op, in order (`ids.len() == self.len()`).
        fn ids(ids: &[Id]) -> Self::Ids;
        fn values(len: usize) -> Self::Values;
        /// Writes `values(len)` into `values`, in place where that saves a copy.
        #[inline]
        fn init_values(values: &mut MaybeUninit<Self::Values>, len: usize) {
            values.write(Self::values(len));
        }
        /// Each op's result, taken out of `values` in place (not moved: they can be large);
        /// leaves every value `None`.
        fn results(values: &mut Self::Values) -> Self::Results;
        /// Every output or the first failure, taken out of `values` in place; on success
        /// leaves every value `None` (`Collector` then skips dropping them).
        fn outputs(values: &mut Self::Values) -> io::Result<Self::Outputs>;
        /// Whether `Values` emptied by `outputs`/`results` (every value `None`) must still be
        /// dropped: a `Vec` frees its buffer; fixed-size values own nothing then.
        const SPENT_NEEDS_DROP: bool = false;
    }
}

use sealed::{BatchImpl, Visit};

/// Ops that can be queued together: one op (or [`Entry`]), a tuple of up to 16 ops of any
/// types, an array `[E; N]` or a `Vec<E>` of one op type.
///
/// Within a batch, ops linked with [`OpExt::soft`](crate::op::OpExt::soft) or
/// [`hard`](crate::op::OpExt::hard) form chains; the last op must be unlinked.
pub trait Batch: BatchImpl {}

impl<B: BatchImpl> Batch for B {}

#[inline(always)]
fn visit_one<E: IntoEntry, V: Visit>(entry: E, v: &mut V) -> io::Result<()> {
    let Entry { op, link, user_data } = entry.into_entry();
    v.op(link, user_data, op)
}

#[inline]
fn take<O: Op>(done: Option<Done>) -> io::Result<O::Output> {
    O::output(done.expect("every op of the batch completed").result?)
}

/// The output of the op at `index`, taken out of `done` in place (leaving it `None`), or its
/// failure.
///
/// `Option::take` first would copy the whole value out (the `None` written back overwrites
/// the value's discriminant, which is also the `Option`'s); converting from the slot and
/// marking it spent afterwards reads only what the conversion needs (for an op with no
/// output: the discriminant).
#[inline(always)]
fn take_ok<O: Op>(index: usize, done: &mut Option<Done>) -> io::Result<O::Output> {
    let Some(Done { result: Ok(value) }) = done else {
        return take_failed::<O>(index, done);
    };
    // SAFETY: `value` is a valid, initialized `Value` inside `done`. The copy read here is the
    // only one used from now on: the `Spent` guard, made before anything can panic, marks
    // `done` as `None` (without dropping it) before anything else can see `done` again, also
    // if the conversion panics, so the value is owned and dropped once.
    let value = unsafe { std::ptr::read(value) };
    let _spent = Spent(done);
    O::output(value)
}

#[cold]
#[inline(never)]
fn take_failed<O: Op>(index: usize, done: &mut Option<Done>) -> io::Result<O::Output> {
    match done.take().expect("every op of the batch completed").result {
        Ok(value) => O::output(value),
        Err(error) => Err(failed(index, O::NAME, error)),
    }
}

/// Marks an `Option<Done>` whose value was moved out (by `ptr::read`) as `None` when dropped.
struct Spent<'a>(&'a mut Option<Done>);

impl Drop for Spent<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: `self.0` is valid for writes; its old value was moved out, so it is
        // overwritten without being dropped.
        unsafe { std::ptr::write(self.0, None) };
    }
}

/// Writes `None` into every value of `values`, one by one (not a `[None; N]` built elsewhere
/// and copied).
#[inline]
fn init_nones<const N: usize>(values: &mut MaybeUninit<[Option<Done>; N]>) {
    let first = values.as_mut_ptr().cast::<Option<Done>>();
    for i in 0..N {
        // SAFETY: `[T; N]` lays out `N` values of `T` one after another, so `first.add(i)` for
        // `i < N` is in bounds of `values` and aligned for `Option<Done>`; writing does not
        // read or drop the uninitialized memory there.
        unsafe { first.add(i).write(None) };
    }
}

/// The first failure of a batch whose op at `index` is named `name(index)`.
#[inline]
fn first_failure(values: &mut [Option<Done>], name: impl Fn(usize) -> &'static str) -> io::Result<()> {
    for (index, slot) in values.iter_mut().enumerate() {
        if matches!(slot, Some(Done { result: Err(_) })) {
            let done = slot.take().expect("checked");
            return Err(failed(index, name(index), done.result.expect_err("checked")));
        }
    }
    Ok(())
}

#[cold]
fn failed(index: usize, op: &'static str, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), OpFailed { index, op, error })
}

impl<O: Op> BatchImpl for O {
    type Ids = Id;
    type Outputs = O::Output;
    type Results = io::Result<O::Output>;
    type Values = [Option<Done>; 1];
    fn len(&self) -> usize {
        1
    }
    #[inline]
    fn visit<V: Visit>(self, v: &mut V) -> io::Result<()> {
        visit_one(self, v)
    }
    fn ids(ids: &[Id]) -> Id {
        ids[0]
    }
    fn values(_: usize) -> Self::Values {
        [None]
    }
    fn results([done]: &mut Self::Values) -> Self::Results {
        take::<O>(done.take())
    }
    fn outputs([done]: &mut Self::Values) -> io::Result<O::Output> {
        take::<O>(done.take())
    }
}

impl<O: Op> BatchImpl for Entry<O> {
    type Ids = Id;
    type Outputs = O::Output;
    type Results = io::Result<O::Output>;
    type Values = [Option<Done>; 1];
    fn len(&self) -> usize {
        1
    }
    #[inline]
    fn visit<V: Visit>(self, v: &mut V) -> io::Result<()> {
        visit_one(self, v)
    }
    fn ids(ids: &[Id]) -> Id {
        ids[0]
    }
    fn values(_: usize) -> Self::Values {
        [None]
    }
    fn results([done]: &mut Self::Values) -> Self::Results {
        take::<O>(done.take())
    }
    fn outputs([done]: &mut Self::Values) -> io::Result<O::Output> {
        take::<O>(done.take())
    }
}

impl<E: IntoEntry> BatchImpl for Vec<E> {
    type Ids = Vec<Id>;
    type Outputs = Vec<<E::Op as Op>::Output>;
    type Results = Vec<io::Result<<E::Op as Op>::Output>>;
    type Values = Vec<Option<Done>>;
    const SPENT_NEEDS_DROP: bool = true;
    fn len(&self) -> usize {
        Vec::len(self)
    }
    #[inline]
    fn visit<V: Visit>(self, v: &mut V) -> io::Result<()> {
        self.into_iter().try_for_each(|e| visit_one(e, v))
    }
    fn ids(ids: &[Id]) -> Vec<Id> {
        ids.to_vec()
    }
    fn values(len: usize) -> Self::Values {
        (0..len).map(|_| None).collect()
    }
    fn results(values: &mut Self::Values) -> Self::Results {
        values.iter_mut().map(|d| take::<E::Op>(d.take())).collect()
    }
    fn outputs(values: &mut Self::Values) -> io::Result<Self::Outputs> {
        first_failure(values, |_| <E::Op as Prepare>::NAME)?;
        values.iter_mut().enumerate().map(|(i, d)| take_ok::<E::Op>(i, d)).collect()
    }
}

impl<E: IntoEntry, const N: usize> BatchImpl for [E; N] {
    type Ids = [Id; N];
    type Outputs = [<E::Op as Op>::Output; N];
    type Results = [io::Result<<E::Op as Op>::Output>; N];
    type Values = [Option<Done>; N];
    fn len(&self) -> usize {
        N
    }
    #[inline]
    fn visit<V: Visit>(self, v: &mut V) -> io::Result<()> {
        self.into_iter().try_for_each(|e| visit_one(e, v))
    }
    fn ids(ids: &[Id]) -> [Id; N] {
        ids.try_into().expect("an id per op")
    }
    fn values(_: usize) -> Self::Values {
        [const { None }; N]
    }
    #[inline]
    fn init_values(values: &mut MaybeUninit<Self::Values>, _: usize) {
        init_nones(values);
    }
    fn results(values: &mut Self::Values) -> Self::Results {
        std::array::from_fn(|i| take::<E::Op>(values[i].take()))
    }
    fn outputs(values: &mut Self::Values) -> io::Result<Self::Outputs> {
        // One pass: the first failure in index order ends it, as `first_failure` would report
        // it. (Converting a successful value only fails on a type mismatch, which cannot happen
        // for values produced by this batch's own ops; such an error is still reported.) The
        // outputs are written in place (no `Option` per output).
        let mut outputs: [MaybeUninit<<E::Op as Op>::Output>; N] = [const { MaybeUninit::uninit() }; N];
        for (index, done) in values.iter_mut().enumerate() {
            match take_ok::<E::Op>(index, done) {
                Ok(output) => {
                    outputs[index].write(output);
                }
                Err(e) => {
                    for output in &mut outputs[..index] {
                        // SAFETY: the outputs before `index` were written by earlier iterations
                        // and are dropped only here, once.
                        unsafe { output.assume_init_drop() };
                    }
                    return Err(e);
                }
            }
        }
        // SAFETY: the loop wrote every one of the `N` outputs (it returns on the only other
        // path). `MaybeUninit<T>` has the layout of `T`, so the array has the layout of
        // `[T; N]`; `outputs` itself has no drop glue, so each output is owned once.
        Ok(unsafe { std::mem::transmute_copy(&outputs) })
    }
}

macro_rules! tuple_batch {
    ($n:literal; $($idx:tt $T:ident),+) => {
        impl<$($T: IntoEntry),+> BatchImpl for ($($T,)+) {
            type Ids = [Id; $n];
            type Outputs = ($(<$T::Op as Op>::Output,)+);
            type Results = ($(io::Result<<$T::Op as Op>::Output>,)+);
            type Values = [Option<Done>; $n];
            fn len(&self) -> usize {
                $n
            }
            #[inline]
            fn visit<V: Visit>(self, v: &mut V) -> io::Result<()> {
                $(visit_one(self.$idx, v)?;)+
                Ok(())
            }
            fn ids(ids: &[Id]) -> [Id; $n] {
                ids.try_into().expect("an id per op")
            }
            fn values(_: usize) -> Self::Values {
                [const { None }; $n]
            }
            #[inline]
            fn init_values(values: &mut MaybeUninit<Self::Values>, _: usize) {
                init_nones(values);
            }
            fn results(values: &mut Self::Values) -> Self::Results {
                ($(take::<$T::Op>(values[$idx].take()),)+)
            }
            fn outputs(values: &mut Self::Values) -> io::Result<Self::Outputs> {
                let names: [&'static str; $n] = [$(<$T::Op as Prepare>::NAME),+];
                first_failure(values, |i| names[i])?;
                Ok(($(take_ok::<$T::Op>($idx, &mut values[$idx])?,)+))
            }
        }
    };
}

tuple_batch!(1; 0 A);
tuple_batch!(2; 0 A, 1 B);
tuple_batch!(3; 0 A, 1 B, 2 C);
tuple_batch!(4; 0 A, 1 B, 2 C, 3 D);
tuple_batch!(5; 0 A, 1 B, 2 C, 3 D, 4 E);
tuple_batch!(6; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F);
tuple_batch!(7; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G);
tuple_batch!(8; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H);
tuple_batch!(9; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I);
tuple_batch!(10; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J);
tuple_batch!(11; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K);
tuple_batch!(12; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L);
tuple_batch!(13; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L, 12 M);
tuple_batch!(14; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L, 12 M, 13 N);
tuple_batch!(15; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L, 12 M, 13 N, 14 O);
tuple_batch!(16; 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L, 12 M, 13 N, 14 O, 15 P);

// Taking outputs in place (`take_ok`'s guard) and its failure paths, with values that own heap
// memory (boxed addresses): under Miri a double drop or a leak fails the test.
#[cfg(all(test, unix))]
mod tests {
    use std::io::IoSliceMut;

    use socket2::SockAddr;

    use crate::__private::Collector;
    use crate::op::{Nop, RecvMsg};
    use crate::raw::{Address, Value};
    use crate::{Completion, Id};

    fn message(len: usize) -> io::Result<Value> {
        let addr = SockAddr::unix("/corio/test").expect("a unix address");
        Ok(Value::Message { len, addr: Some(Address::new(addr)), flags: 0, control_len: 0 })
    }

    fn completion(result: io::Result<Value>) -> Completion {
        Completion { id: Id::new(0, 0), user_data: 0, op: "recvmsg", result, more: false }
    }

    use std::io;

    fn collect(results: [io::Result<Value>; 3]) -> io::Result<[crate::op::RecvMsgOutput; 3]> {
        let stdin = io::stdin();
        let (mut a, mut b, mut c) = ([0u8; 1], [0u8; 1], [0u8; 1]);
        let (mut a, mut b, mut c) = ([IoSliceMut::new(&mut a)], [IoSliceMut::new(&mut b)], [IoSliceMut::new(&mut c)]);
        let batch = [RecvMsg::new(&stdin, &mut a), RecvMsg::new(&stdin, &mut b), RecvMsg::new(&stdin, &mut c)];
        let mut collector = Collector::new(&batch);
        for (index, result) in results.into_iter().enumerate() {
            collector.set(index, completion(result));
        }
        collector.take_outputs()
    }

    #[test]
    fn outputs_are_taken_once() {
        let outputs = collect([message(1), message(2), message(3)]).expect("all succeeded");
        assert_eq!(outputs.map(|o| (o.len, o.addr.is_some())), [(1, true), (2, true), (3, true)]);
    }

    #[test]
    fn a_failure_drops_every_other_value_once() {
        let failed = collect([message(1), Err(io::Error::from_raw_os_error(libc::EBADF)), message(3)]);
        let error = failed.expect_err("the second op failed");
        let failed = error.get_ref().and_then(|e| e.downcast_ref::<super::OpFailed>()).expect("OpFailed");
        assert_eq!((failed.index, failed.op), (1, "recvmsg"));
    }

    #[test]
    fn a_mismatched_value_drops_the_outputs_taken_before() {
        let failed = collect([message(1), Ok(Value::Len(2)), message(3)]);
        assert_eq!(failed.expect_err("a mismatch").kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn collector_set_twice_drops_the_first() {
        let batch = [Nop::new()];
        let mut collector = Collector::new(&batch);
        collector.set(0, completion(message(1)));
        collector.set(0, completion(Ok(Value::Unit)));
        let [()] = collector.take_outputs().expect("a unit");
    }
}
