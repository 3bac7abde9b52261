//! `mmtree demo` end to end, as a real process.

use std::process::Command;

#[test]
fn demo_loads_reads_back_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.mmt");
    let output = Command::new(env!("CARGO_BIN_EXE_mmtree"))
        .args(["demo", "--records", "20000", "--batch", "3000", "--path"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "load",
        "random get",
        "full scan",
        "range",
        "reopen",
        "page cache",
        "check        ok",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert!(stdout.contains("20000 records"), "{stdout}");
    // The file is a real database holding every record.
    let db = mmtree::Db::open(&path).unwrap();
    assert_eq!(
        db.begin_read()
            .unwrap()
            .table("demo")
            .unwrap()
            .unwrap()
            .len()
            .unwrap(),
        20_000
    );
}

#[test]
fn demo_refuses_an_existing_file_and_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("precious.txt");
    std::fs::write(&path, b"do not touch").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mmtree"))
        .args(["demo", "--path"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(std::fs::read(&path).unwrap(), b"do not touch");

    let output = Command::new(env!("CARGO_BIN_EXE_mmtree"))
        .args(["demo", "--records", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--records"));
}
