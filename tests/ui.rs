//! Compile errors of the macros, checked against the `.stderr` snapshots in `ui/`.
//! After a deliberate change, rerun with `TRYBUILD=overwrite` and review the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
}
