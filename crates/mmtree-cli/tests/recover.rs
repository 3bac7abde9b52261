//! `mmtree recover`: the way past a redo log that cannot be used (issue 23 item 9, issue 28
//! item 3), through the real binary.

use std::process::{Command, Output};

fn mmtree(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mmtree"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_crashed_copy_without_its_log_is_refused_then_recovered_at_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.mmt");
    let db = mmtree::Db::open(&path).unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"old", b"1").unwrap();
    w.commit().unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"new", b"2").unwrap();
    w.commit().unwrap(); // in the log only
                         // `cp data.mmt` of a live database: the data file without its log.
    let copy = dir.path().join("copy.mmt");
    std::fs::copy(&path, &copy).unwrap();
    let copy = copy.to_str().unwrap();
    let refused = mmtree(&["get", copy, "t", "old"]);
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("redo log")
            && message.contains("missing")
            && message.contains("mmtree recover"),
        "{message}"
    );
    let recovered = mmtree(&["recover", copy]);
    assert!(recovered.status.success(), "{recovered:?}");
    let said = String::from_utf8_lossy(&recovered.stdout);
    assert!(
        said.contains("missing") && said.contains("0 problems"),
        "{said}"
    );
    let old = mmtree(&["get", copy, "t", "old"]);
    assert_eq!(old.stdout, b"1");
    assert_eq!(mmtree(&["get", copy, "t", "new"]).status.code(), Some(4));
    // A database whose log is fine: nothing to do, and it says so.
    drop(db);
    let fine = mmtree(&["recover", path.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&fine.stdout).contains("nothing set aside"));
}
