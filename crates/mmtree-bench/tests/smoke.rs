//! A tiny profile of each benchmark, so the harness never rots (the real runs are by hand).

use std::process::{Command, Output};

/// The run's stdout, after checking it exited successfully.
fn succeeded(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn side_by_side_table_covers_every_store_and_workload() {
    let out = Command::new(env!("CARGO_BIN_EXE_mmtree-bench"))
        .args([
            "--records",
            "3000",
            "--batches",
            "3",
            "--gets",
            "3000",
            "--w1-records",
            "3000",
            "--w8-records",
            "2000",
            "--w7-seconds",
            "0.6",
            "--json",
        ])
        .arg(std::env::temp_dir().join(format!("mmtree-bench-smoke-{}.json", std::process::id())))
        .output()
        .unwrap();
    let text = succeeded(&out);
    assert!(
        text.contains(
            "| workload | unit | mmtree | lmdb | ratio | redb | ratio | sqlite | ratio |"
        ),
        "{text}"
    );
    for workload in [
        "sorted bulk load",
        "random durable batches",
        "random gets, full buffer",
        "random gets, empty buffer",
        "random gets, 2 threads",
        "full scan",
        "reopen",
        "random-order load (W1)",
        "space amplification (W8)",
        "page faults, minor",
        "file size",
        "file size after the sorted load",
        "file size after W1",
        "in-order inserts, one transaction",
        "peak RSS",
        "full scan, cold cache",
        "W7 gets under a cap",
    ] {
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("| {workload}")))
            .unwrap_or_else(|| panic!("no {workload} row:\n{text}"));
        assert_eq!(row.matches(" | ").count(), 8, "nine columns in {row}");
    }
    let json_path =
        std::env::temp_dir().join(format!("mmtree-bench-smoke-{}.json", std::process::id()));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    // The plots can be drawn again from the JSON alone.
    let plots = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mmtree-bench"))
        .arg("--plot-from")
        .arg(&json_path)
        .arg("--plots")
        .arg(plots.path())
        .output()
        .unwrap();
    succeeded(&out);
    for name in ["throughput.svg", "w7.svg"] {
        let svg = std::fs::read_to_string(plots.path().join(name)).unwrap();
        assert!(
            svg.contains("mmtree") && svg.trim_end().ends_with("</svg>"),
            "{name}"
        );
    }
    std::fs::remove_file(&json_path).ok();
    assert_eq!(json["stores"].as_array().unwrap().len(), 4);
    assert_eq!(json["stores"][0]["name"], "mmtree");
    assert_eq!(json["stores"][0]["results"].as_array().unwrap().len(), 21);
    let w7 = &json["stores"][1]["w7"];
    assert!(!w7["gets_per_s"].as_array().unwrap().is_empty(), "{w7}");
    assert!(w7["method"].as_str().unwrap().len() > 3, "{w7}");
}

#[test]
fn the_in_order_row_runs_alone() {
    let out = Command::new(env!("CARGO_BIN_EXE_mmtree-bench"))
        .args(["--in-order-only", "--records", "3000"])
        .output()
        .unwrap();
    let text = succeeded(&out);
    let row = text
        .lines()
        .find(|l| l.starts_with("| in-order inserts, one transaction"))
        .unwrap_or_else(|| panic!("no in-order row:\n{text}"));
    assert_eq!(row.matches(" | ").count(), 8, "nine columns in {row}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("| ")).count(),
        2,
        "the header and the one row:\n{text}"
    );
}

#[test]
fn readwhilewriting_runs_reader_and_writer_processes() {
    let out = Command::new(env!("CARGO_BIN_EXE_mmtree-bench"))
        .args([
            "--readwhilewriting",
            "--records",
            "3000",
            "--seconds",
            "0.3",
            "--procs",
            "1",
        ])
        .output()
        .unwrap();
    let text = succeeded(&out);
    assert!(text.contains("| readers N | mmtree gets/s per reader | lmdb gets/s per reader | sqlite gets/s per reader |"), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("| 1 |"))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(row.matches('x').count(), 2, "{row}");
}

/// Issue 28 item 15: a peer this build cannot run is refused before the first workload, with
/// what to do, instead of after every other store has run.
#[cfg(not(feature = "rocksdb"))]
#[test]
fn a_peer_missing_from_the_build_is_refused_before_any_workload() {
    let out = Command::new(env!("CARGO_BIN_EXE_mmtree-bench"))
        .args(["--records", "1000", "--peers", "lmdb,rocksdb"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains("mmtree vs peers"),
        "it ran workloads: {stdout}"
    );
    assert!(stderr.contains("--features rocksdb"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_mmtree-bench"))
        .args(["--records", "1000", "--peers", "lmdb,leveldb"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown store \"leveldb\""));
}
