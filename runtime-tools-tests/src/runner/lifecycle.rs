//! lifecycle tests (to come).
use super::Test;
/// Tests of this area.
pub fn tests() -> Vec<Test> { Vec::new() }
