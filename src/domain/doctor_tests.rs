//! The doctor's pure parts: thresholds and the overall status.

use super::*;

#[test]
fn free_space_thresholds() {
    assert_eq!(free_space("x", "d", 100 << 30).status, Status::Ok);
    assert_eq!(free_space("x", "d", 1 << 30).status, Status::Warn);
    assert_eq!(free_space("x", "d", 1 << 20).status, Status::Fail);
}

#[test]
fn overall_is_the_worst() {
    let checks = [Check::ok("a", ""), Check::warn("b", "", "")];
    assert_eq!(overall(&checks), Status::Warn);
    assert_eq!(overall(&[]), Status::Ok);
}
