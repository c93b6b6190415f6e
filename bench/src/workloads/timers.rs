//! timers (todo).
use std::io;

use super::Case;
use crate::harness::Sample;

pub fn cases(_quick: bool) -> Vec<Case> {
    vec![]
}

pub fn run(_case: &Case, imp: &str, _quick: bool) -> io::Result<Sample> {
    Err(super::unknown(imp))
}
