//! Every subcommand, run as a real process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn mmtree(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mmtree"))
        .args(args)
        .output()
        .unwrap()
}

fn mmtree_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mmtree"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed ({:?}): {}{}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

#[track_caller]
fn fails_with(output: Output, code: i32, message: &str) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let err = stderr(&output);
    assert!(err.contains(message), "stderr {err:?} lacks {message:?}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        err.trim().lines().count(),
        1,
        "not a one-line message: {err}"
    );
}

fn db(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("t.mmt")
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn put_get_del() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    ok(mmtree(&["put", s(&db), "users", "alice", "{\"age\":31}"]));
    assert_eq!(
        ok(mmtree(&["get", s(&db), "users", "alice"])),
        "{\"age\":31}"
    );
    assert_eq!(
        ok(mmtree(&["get", s(&db), "users", "616c696365", "--hex"])),
        "7b22616765223a33317d\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(mmtree(&["get", s(&db), "users", "alice", "--json"]))).unwrap();
    assert_eq!(json["value"], "{\"age\":31}");
    fails_with(mmtree(&["get", s(&db), "users", "bob"]), 4, "no key");
    fails_with(mmtree(&["get", s(&db), "nope", "bob"]), 4, "no table");
    ok(mmtree(&["del", s(&db), "users", "alice"]));
    fails_with(mmtree(&["del", s(&db), "users", "alice"]), 4, "no key");
    fails_with(
        mmtree(&["get", s(&db), "users", "zz", "--hex"]),
        1,
        "not valid hex",
    );
}

#[test]
fn bad_files_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.mmt");
    fails_with(mmtree(&["get", s(&missing), "t", "k"]), 1, "no such file");
    assert!(!missing.exists(), "a read command must not create the file");
    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, "hello, this is not a database\n".repeat(400)).unwrap();
    fails_with(mmtree(&["stat", s(&foreign)]), 1, "not an mmtree database");
    fails_with(mmtree(&["check", s(&foreign)]), 1, "not an mmtree database");
}

#[test]
fn scan_with_bounds_prefix_limit_reverse() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    let input: String = (0..30).map(|i| format!("k{i:02}\tv{i}\n")).collect();
    ok(mmtree_stdin(&["load", s(&db), "t", "--quiet"], &input));
    let keys = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["scan", s(&db), "t", "--keys-only"];
        all.extend_from_slice(args);
        ok(mmtree(&all)).lines().map(String::from).collect()
    };
    assert_eq!(
        keys(&["--from", "k05", "--to", "k08"]),
        ["k05", "k06", "k07"]
    );
    assert_eq!(
        keys(&["--prefix", "k1", "--limit", "3"]),
        ["k10", "k11", "k12"]
    );
    assert_eq!(keys(&["--reverse", "--limit", "2"]), ["k29", "k28"]);
    assert_eq!(keys(&[]).len(), 30);
    let line = ok(mmtree(&["scan", s(&db), "t", "--json", "--limit", "1"]));
    let json: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(
        (json["key"].as_str(), json["value"].as_str()),
        (Some("k00"), Some("v0"))
    );
    fails_with(mmtree(&["scan", s(&db), "nope"]), 4, "no table");
}

#[test]
fn tables_list_create_drop() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    ok(mmtree(&["tables", s(&db), "create", "a"]));
    ok(mmtree(&["put", s(&db), "b", "k", "v"]));
    assert_eq!(ok(mmtree(&["tables", s(&db)])), "a\t0\nb\t1\n");
    ok(mmtree(&["tables", s(&db), "drop", "a"]));
    assert_eq!(
        ok(mmtree(&["tables", s(&db), "--json"])).trim(),
        r#"{"entries":1,"table":"b"}"#
    );
    fails_with(mmtree(&["tables", s(&db), "drop", "a"]), 4, "no table");
}

#[test]
fn load_formats_bad_lines_and_the_sorted_fast_path() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    // Sorted TSV into an empty table: bulk batches.
    let input: String = (0..1000)
        .map(|i| format!("key{i:05}\tvalue {i}\n"))
        .collect();
    let out = ok(mmtree_stdin(
        &["load", s(&db), "sorted", "--batch", "300", "--quiet"],
        &input,
    ));
    assert!(
        out.contains("loaded 1000 records") && out.contains("(1 bulk)"),
        "{out}"
    );
    // A bad line stops the load with its line number; earlier batches stay committed.
    let input = "a\t1\nb\t2\nc\t3\nno tab here\nd\t4\n";
    fails_with(
        mmtree_stdin(&["load", s(&db), "bad", "--batch", "2", "--quiet"], input),
        1,
        "line 4: no tab",
    );
    assert_eq!(
        ok(mmtree(&["scan", s(&db), "bad", "--keys-only"])),
        "a\nb\nc\n"
    );
    // --skip-bad counts and reports instead.
    let out = ok(mmtree_stdin(
        &["load", s(&db), "skip", "--skip-bad", "--quiet"],
        input,
    ));
    assert!(
        out.contains("loaded 4 records") && out.contains("skipped 1 bad lines (first: line 4"),
        "{out}"
    );
    // --sorted with unsorted input is an error, not a silent mess.
    fails_with(
        mmtree_stdin(
            &["load", s(&db), "strict", "--sorted", "--quiet"],
            "b\t1\na\t2\n",
        ),
        1,
        "does not come after",
    );
    // ... also across batches.
    fails_with(
        mmtree_stdin(
            &[
                "load",
                s(&db),
                "strict2",
                "--sorted",
                "--batch",
                "2",
                "--quiet",
            ],
            "a\t1\nc\t2\nb\t3\nd\t4\n",
        ),
        1,
        "previous batch",
    );
    // CSV with quoting, and JSON Lines.
    let csv = "key,value\n\"x,1\",\"say \"\"hi\"\"\"\ny,2\n";
    ok(mmtree_stdin(
        &[
            "load",
            s(&db),
            "csv",
            "--format",
            "csv",
            "--header",
            "--quiet",
        ],
        csv,
    ));
    assert_eq!(ok(mmtree(&["get", s(&db), "csv", "x,1"])), "say \"hi\"");
    let jsonl = "{\"key\":\"j1\",\"value\":\"one\"}\n{\"key\":\"j2\",\"value\":\"two\"}\n";
    ok(mmtree_stdin(
        &["load", s(&db), "json", "--format", "jsonl", "--quiet"],
        jsonl,
    ));
    assert_eq!(ok(mmtree(&["get", s(&db), "json", "j2"])), "two");
    // From a file.
    let file = dir.path().join("in.tsv");
    std::fs::write(&file, "f1\tv1\nf2\tv2\n").unwrap();
    ok(mmtree(&["load", s(&db), "file", s(&file), "--quiet"]));
    assert_eq!(ok(mmtree(&["get", s(&db), "file", "f2"])), "v2");
}

/// Issue 28 item 1: what `dump` writes, `load` reads back exactly with no flags (the dump's
/// first line says what it is), text and binary alike, and `get` finds the keys.
#[test]
fn dump_then_load_round_trips_with_no_flags() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    ok(mmtree(&["put", s(&db), "users", "alice", "{\"age\":31}"]));
    ok(mmtree(&[
        "put",
        s(&db),
        "users",
        "bob",
        "multi\nline\tvalue",
    ]));
    let entries = [
        ("00ff10", "0a0d09ff00"),
        ("", "00"),
        ("ffff", ""),
        ("6b6579", "76616c7565"),
    ];
    for (k, v) in entries {
        ok(mmtree(&["put", s(&db), "bin", k, v, "--hex"]));
    }
    for table in ["users", "bin"] {
        // To a file with -o, and through standard output.
        let dump = dir.path().join(format!("{table}.jsonl"));
        ok(mmtree(&["dump", s(&db), table, "-o", s(&dump)]));
        let piped = ok(mmtree(&["dump", s(&db), table]));
        assert_eq!(std::fs::read_to_string(&dump).unwrap(), piped);
        let copy = dir.path().join(format!("{table}-copy.mmt"));
        let out = ok(mmtree(&["load", s(&copy), table, s(&dump), "--quiet"]));
        assert!(
            out.contains(&format!("loaded {} records", piped.lines().count() - 1)),
            "{out}"
        );
        let copy2 = dir.path().join(format!("{table}-copy2.mmt"));
        ok(mmtree_stdin(&["load", s(&copy2), table, "--quiet"], &piped));
        for copy in [&copy, &copy2] {
            assert_eq!(
                ok(mmtree(&["scan", s(copy), table, "--hex"])),
                ok(mmtree(&["scan", s(&db), table, "--hex"])),
                "{table}"
            );
        }
    }
    let copy = dir.path().join("users-copy.mmt");
    assert_eq!(
        get_bytes(&["get", s(&copy), "users", "alice"]),
        b"{\"age\":31}"
    );
    // The same with --hex and --base64 (the flags of every other command; the old --encoding
    // spelling still works): the first line says which, so load needs no flag either.
    for flag in [["--hex", ""], ["--base64", ""], ["--encoding", "base64"]] {
        let flags: Vec<&str> = flag.into_iter().filter(|f| !f.is_empty()).collect();
        let mut args = vec!["dump", s(&db), "bin"];
        args.extend(&flags);
        let text = ok(mmtree(&args));
        let copy = dir.path().join(format!("flag{}.mmt", flags.join("")));
        ok(mmtree_stdin(&["load", s(&copy), "bin", "--quiet"], &text));
        assert_eq!(
            ok(mmtree(&["scan", s(&copy), "bin", "--hex"])),
            ok(mmtree(&["scan", s(&db), "bin", "--hex"]))
        );
        // Flags that contradict the dump are refused, not misread.
        let other = if flags[0] == "--hex" {
            "--base64"
        } else {
            "--hex"
        };
        let refused = dir.path().join("refused.mmt");
        fails_with(
            mmtree_stdin(&["load", s(&refused), "bin", other, "--quiet"], &text),
            2,
            "leave out --hex/--base64",
        );
        fails_with(
            mmtree_stdin(
                &["load", s(&refused), "bin", "--format", "tsv", "--quiet"],
                &text,
            ),
            2,
            "leave out --format",
        );
        assert!(!refused.exists());
    }
    // A dump of a newer dump format is refused with its line.
    let future = "{\"mmtree_dump\":2,\"encoding\":\"text\",\"all\":false}\n{\"key\":\"a\",\"value\":\"b\"}\n";
    fails_with(
        mmtree_stdin(
            &["load", s(&dir.path().join("f.mmt")), "t", "--quiet"],
            future,
        ),
        1,
        "line 1: a dump of format 2; this build reads format 1",
    );
}

/// Table "t": 5000 records of 50-byte values (a tree of depth ≥ 2; page 20 is a leaf).
fn load_5000(db: &Path) {
    let input: String = (0..5000)
        .map(|i| format!("k{i:06}\t{}\n", "v".repeat(50)))
        .collect();
    ok(mmtree_stdin(&["load", s(db), "t", "--quiet"], &input));
}

/// Flips a byte in the middle of page 20 (a leaf of `load_5000`'s table).
fn damage_page_20(db: &Path) {
    let mut bytes = std::fs::read(db).unwrap();
    bytes[20 * 4096 + 2000] ^= 0xff;
    std::fs::write(db, &bytes).unwrap();
}

#[test]
fn stat_check_and_a_damaged_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    load_5000(&db);
    let stat: serde_json::Value =
        serde_json::from_str(&ok(mmtree(&["stat", s(&db), "--json"]))).unwrap();
    assert_eq!(stat["tables"][0]["entries"], 5000);
    assert_eq!(stat["page_size"], 4096);
    assert!(stat["tables"][0]["depth"].as_u64().unwrap() >= 2);
    assert!(stat["page_cache"]["file_bytes"].as_u64().unwrap() > 0);
    assert!(ok(mmtree(&["stat", s(&db)])).contains("page cache"));
    assert!(ok(mmtree(&["check", s(&db)])).contains("0 problems"));
    // Damage one leaf page in the middle of the file: check exits 3 and names the page.
    damage_page_20(&db);
    let out = mmtree(&["check", s(&db)]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("page 20: checksum mismatch"),
        "{}",
        stdout(&out)
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&mmtree(&["check", s(&db), "--json"]))).unwrap();
    assert_eq!(json["ok"], false);
}

/// A table "big" of 20,000 records of 100-byte values (loaded in commits of 1000) and a table
/// "small" of one: dropping "big" leaves space for compaction to give back.
fn load_big_and_small(db: &Path) {
    let input: String = (0..20000)
        .map(|i| format!("k{i:06}\t{}\n", "v".repeat(100)))
        .collect();
    ok(mmtree_stdin(
        &["load", s(db), "big", "--quiet", "--batch", "1000"],
        &input,
    ));
    ok(mmtree(&["put", s(db), "small", "k", "v"]));
}

#[test]
fn compact_in_place_and_to_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    load_big_and_small(&db);
    ok(mmtree(&["tables", s(&db), "drop", "big"]));
    let copy = dir.path().join("copy.mmt");
    ok(mmtree(&["compact", s(&db), "--to", s(&copy)]));
    assert_eq!(ok(mmtree(&["get", s(&copy), "small", "k"])), "v");
    assert!(std::fs::metadata(&copy).unwrap().len() < 2 << 20);
    let before = std::fs::metadata(&db).unwrap().len();
    ok(mmtree(&["compact", s(&db)]));
    let after = std::fs::metadata(&db).unwrap().len();
    assert!(after < before / 2, "{before} -> {after}");
    assert!(ok(mmtree(&["check", s(&db)])).contains("0 problems"));
    fails_with(
        mmtree(&["compact", s(&db), "--to", s(&copy)]),
        1,
        "already exists",
    );
}

#[test]
fn backup_makes_an_openable_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    ok(mmtree(&["put", s(&db), "t", "k", "v"]));
    let copy = dir.path().join("backup.mmt");
    let out = ok(mmtree(&["backup", s(&db), s(&copy)]));
    assert!(out.contains("KiB in"), "{out}");
    assert_eq!(ok(mmtree(&["get", s(&copy), "t", "k"])), "v");
    fails_with(mmtree(&["backup", s(&db), s(&copy)]), 1, "already exists");
}

#[test]
fn readers_lists_a_snapshot_held_by_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = db(&dir);
    ok(mmtree(&["put", s(&db_path), "t", "k", "v"]));
    assert_eq!(
        ok(mmtree(&["readers", s(&db_path)])),
        "no live snapshots\nwriter: none\n"
    );
    // This test process holds a snapshot; the mmtree process must list it.
    let db = mmtree::Db::open(&db_path).unwrap();
    let snapshot = db.begin_read().unwrap();
    let out = ok(mmtree(&["readers", s(&db_path), "--json"]));
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(json["pid"], std::process::id());
    assert_eq!(json["txn"], snapshot.txn_id());
    drop(snapshot);
    assert_eq!(
        ok(mmtree(&["readers", s(&db_path)])),
        "no live snapshots\nwriter: none\n"
    );
}

#[test]
fn bench_io_warm_and_evict() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.bin");
    std::fs::write(&file, vec![7u8; 4 << 20]).unwrap();
    let out = ok(mmtree(&["bench-io", s(&file), "--random", "500", "--json"]));
    let runs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(runs.len(), 8);
    assert!(runs.iter().all(|r| r["bytes"].as_u64().unwrap() > 0));
    let warm: serde_json::Value =
        serde_json::from_str(&ok(mmtree(&["warm", s(&file), "--json"]))).unwrap();
    assert_eq!(warm["resident_after"], 4 << 20);
    let evict: serde_json::Value =
        serde_json::from_str(&ok(mmtree(&["evict", s(&file), "--json"]))).unwrap();
    assert!(evict["resident_after"].as_u64().unwrap() < 4 << 20);
}

#[test]
fn help_explains_every_subcommand_with_an_example() {
    let top = ok(mmtree(&["--help"]));
    assert!(top.contains("Exit codes"), "{top}");
    for sub in [
        "demo",
        "get",
        "put",
        "del",
        "scan",
        "tables",
        "load",
        "dump",
        "stat",
        "check",
        "compact",
        "backup",
        "readers",
        "bench-io",
        "warm",
        "evict",
        "completions",
        "man",
    ] {
        assert!(top.contains(sub), "--help does not list {sub}");
        let help = ok(mmtree(&[sub, "--help"]));
        assert!(
            help.contains("Example"),
            "`mmtree {sub} --help` has no example:\n{help}"
        );
    }
    let out = mmtree(&["get"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The raw bytes of `mmtree get`'s standard output (a pipe: no newline is added).
fn get_bytes(args: &[&str]) -> Vec<u8> {
    let output = mmtree(args);
    assert!(output.status.success(), "{}", stderr(&output));
    output.stdout
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn get_prints_the_stored_bytes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    // The README's example: backslashes and quotes must reach jq unchanged.
    let json = r#"{"p":"C:\\dir","q":"a\"b"}"#;
    ok(mmtree(&["put", s(&db), "t", "j", json]));
    let out = get_bytes(&["get", s(&db), "t", "j"]);
    assert_eq!(out, json.as_bytes());
    let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(parsed["p"], "C:\\dir");
    assert_eq!(parsed["q"], "a\"b");
    assert_eq!(
        get_bytes(&["get", s(&db), "t", "j", "--raw"]),
        json.as_bytes()
    );
    // Newlines, tabs, a trailing newline, NUL and bytes that are not UTF-8.
    let value: &[u8] = b"line one\nC:\\x\ttab \"q\"\n\x00\xff\xfe\n";
    ok(mmtree(&[
        "put",
        s(&db),
        "t",
        &hex(b"bin"),
        &hex(value),
        "--hex",
    ]));
    assert_eq!(get_bytes(&["get", s(&db), "t", "bin"]), value);
    assert_eq!(
        get_bytes(&["get", s(&db), "t", &hex(b"bin"), "--hex", "--raw"]),
        value
    );
    // Explicit encodings are one line of text.
    assert_eq!(
        stdout(&mmtree(&["get", s(&db), "t", &hex(b"bin"), "--hex"])),
        format!("{}\n", hex(value))
    );
    assert_eq!(
        stdout(&mmtree(&["get", s(&db), "t", "Ymlu", "--base64"])),
        "bGluZSBvbmUKQzpceAl0YWIgInEiCgD//go=\n"
    );
}

#[test]
fn json_output_is_valid_json_with_base64_for_bytes_that_are_not_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    let json = r#"{"p":"C:\\dir","q":"a\"b"}"#;
    ok(mmtree(&["put", s(&db), "t", "j", json]));
    ok(mmtree(&["put", s(&db), "t", "m", "multi\nline"]));
    ok(mmtree(&["put", s(&db), "t", "6e", "00ff0a5c", "--hex"])); // key "n"
    ok(mmtree(&["put", s(&db), "t", "ff01", "6f6b", "--hex"])); // binary key, value "ok"
    let parse = |text: &str| -> serde_json::Value { serde_json::from_str(text).unwrap() };

    let get = parse(&ok(mmtree(&["get", s(&db), "t", "j", "--json"])));
    assert_eq!(get, serde_json::json!({"key": "j", "value": json}));
    let get = parse(&ok(mmtree(&["get", s(&db), "t", "n", "--json"])));
    assert_eq!(
        get,
        serde_json::json!({"key": "n", "value": {"base64": "AP8KXA=="}})
    );
    let get = parse(&ok(mmtree(&["get", s(&db), "t", "6e", "--hex", "--json"])));
    assert_eq!(get, serde_json::json!({"key": "6e", "value": "00ff0a5c"}));

    let scan: Vec<serde_json::Value> = ok(mmtree(&["scan", s(&db), "t", "--json"]))
        .lines()
        .map(parse)
        .collect();
    assert_eq!(
        scan,
        [
            serde_json::json!({"key": "j", "value": json}),
            serde_json::json!({"key": "m", "value": "multi\nline"}),
            serde_json::json!({"key": "n", "value": {"base64": "AP8KXA=="}}),
            serde_json::json!({"key": {"base64": "/wE="}, "value": "ok"}),
        ]
    );
    let keys: Vec<serde_json::Value> = ok(mmtree(&["scan", s(&db), "t", "--json", "--keys-only"]))
        .lines()
        .map(parse)
        .collect();
    assert_eq!(keys[3], serde_json::json!({"key": {"base64": "/wE="}}));

    // `load --format jsonl` reads scan --json back exactly.
    let copy = dir.path().join("copy.mmt");
    ok(mmtree_stdin(
        &["load", s(&copy), "t", "--format", "jsonl", "--quiet"],
        &ok(mmtree(&["scan", s(&db), "t", "--json"])),
    ));
    assert_eq!(
        ok(mmtree(&["scan", s(&copy), "t", "--hex"])),
        ok(mmtree(&["scan", s(&db), "t", "--hex"]))
    );
    // dump writes its entries as scan --json does, after its first line.
    let dump = ok(mmtree(&["dump", s(&db), "t"]));
    let scan = ok(mmtree(&["scan", s(&db), "t", "--json"]));
    assert_eq!(
        dump.lines().skip(1).map(parse).collect::<Vec<_>>(),
        scan.lines().map(parse).collect::<Vec<_>>()
    );
    let dump = parse(
        ok(mmtree(&["dump", s(&db), "t", "--base64"]))
            .lines()
            .nth(3)
            .unwrap(),
    );
    assert_eq!(
        dump,
        serde_json::json!({"key": "bg==", "value": "AP8KXA=="})
    );
}

#[test]
fn scan_text_output_is_the_bytes_or_an_error_never_silently_changed() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    ok(mmtree(&["put", s(&db), "t", "a", r#"C:\dir "q" é"#]));
    ok(mmtree(&["put", s(&db), "t", "62", "ff0009", "--hex"]));
    let out = mmtree(&["scan", s(&db), "t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, b"a\tC:\\dir \"q\" \xc3\xa9\nb\t\xff\x00\t\n");
    // A value with a newline cannot be one key<TAB>value line: an error, not a garbled line.
    ok(mmtree(&["put", s(&db), "t", "c", "two\nlines"]));
    fails_with(mmtree(&["scan", s(&db), "t"]), 1, "value holds a newline");
    assert_eq!(
        ok(mmtree(&["scan", s(&db), "t", "--escape"])),
        "a\tC:\\\\dir \"q\" é\nb\t\\xff\\u{0}\\t\nc\ttwo\\nlines\n"
    );
    assert_eq!(
        ok(mmtree(&["scan", s(&db), "t", "--keys-only"])),
        "a\nb\nc\n"
    );
}

/// Runs mmtree with standard output on `stdout` and returns its exit status and stderr.
fn run_with_stdout(args: &[&str], stdout: Stdio) -> (std::process::ExitStatus, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_mmtree"))
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (output.status, stderr(&output))
}

/// A database with one table of `n` records, for the output tests.
fn loaded_db(dir: &tempfile::TempDir, n: usize) -> PathBuf {
    let db = db(dir);
    let input: String = (0..n).map(|i| format!("key{i:06}\tvalue {i}\n")).collect();
    ok(mmtree_stdin(&["load", s(&db), "t", "--quiet"], &input));
    db
}

/// Every subcommand that prints (serve aside), with arguments; files go in `dir`.
fn printing_commands(dir: &tempfile::TempDir, db: &Path) -> Vec<Vec<String>> {
    let db = s(db).to_string();
    let at = |name: &str| s(&dir.path().join(name)).to_string();
    let input = at("in.tsv");
    std::fs::write(&input, "x\t1\ny\t2\n").unwrap();
    [
        vec!["stat", &db],
        vec!["stat", &db, "--json"],
        vec!["check", &db],
        vec!["tables", &db],
        vec!["readers", &db],
        vec!["warm", &db],
        vec!["evict", &db],
        vec!["bench-io", &db, "--random", "50"],
        vec!["get", &db, "t", "key000001"],
        vec!["get", &db, "t", "key000001", "--json"],
        vec!["scan", &db, "t"],
        vec!["dump", &db, "t"],
        vec!["load", &db, "loaded", &input, "--quiet"],
        vec!["compact", &db],
        vec!["backup", &db, &at("backup.mmt")],
        vec!["demo", "--records", "2000"],
        vec!["completions", "bash"],
        vec!["man"],
    ]
    .into_iter()
    .map(|args| args.into_iter().map(String::from).collect())
    .collect()
}

#[test]
fn full_stdout_is_one_clean_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = loaded_db(&dir, 20_000);
    for args in printing_commands(&dir, &db) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let (status, err) = run_with_stdout(&args, full.into());
        assert_eq!(status.code(), Some(1), "{args:?}: {status:?} {err}");
        assert_eq!(
            err, "mmtree: writing output: No space left on device\n",
            "{args:?}"
        );
    }
    // The work of load, backup and compact was done before the report failed.
    assert_eq!(ok(mmtree(&["get", s(&db), "loaded", "y"])), "2");
    let backup = dir.path().join("backup.mmt");
    assert_eq!(
        ok(mmtree(&["get", s(&backup), "t", "key000002"])),
        "value 2"
    );
    ok(mmtree(&["check", s(&backup)]));
}

#[test]
fn closed_stdout_ends_quietly_as_if_killed_by_sigpipe() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let db = loaded_db(&dir, 20_000);
    for args in printing_commands(&dir, &db) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader); // `mmtree stat t.mmt | (exec 0<&-; true)`
        let (status, err) = run_with_stdout(&args, writer.into());
        assert_eq!(status.signal(), Some(13), "{args:?}: {status:?} {err}");
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        assert!(err.is_empty(), "{args:?} wrote to stderr: {err}");
    }
    // `mmtree dump … | head -1`: the reader goes away after the first line.
    for command in ["dump", "scan"] {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_mmtree"))
            .args([command, s(&db), "t"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(
            first.contains("key000000") || first.contains("mmtree_dump"),
            "{first}"
        );
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.signal(), Some(13), "{command}");
        assert_eq!(stderr(&output), "", "{command}");
    }
}

#[test]
fn read_only_commands_create_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    // An empty file: stat refuses it and writes no header into it.
    std::fs::write(p("empty.mmt"), b"").unwrap();
    let out = mmtree(&["stat", &p("empty.mmt")]);
    assert!(!out.status.success());
    assert_eq!(std::fs::metadata(p("empty.mmt")).unwrap().len(), 0);
    // A file that is not a database: no lock file is left behind.
    std::fs::write(p("notes.txt"), "hello\n".repeat(2000)).unwrap();
    for command in [["stat"], ["check"]] {
        let out = mmtree(&[command[0], &p("notes.txt")]);
        assert!(!out.status.success());
    }
    let out = mmtree(&["get", &p("notes.txt"), "t", "k"]);
    assert!(!out.status.success());
    // A database without a lock file (a copy, read-only media): reading it creates none and
    // leaves the file as it was.
    assert!(mmtree(&["put", &p("db.mmt"), "t", "k", "v"])
        .status
        .success());
    std::fs::remove_file(p("db.mmt-lock")).unwrap();
    let before = std::fs::read(p("db.mmt")).unwrap();
    for args in [
        vec!["get", &p("db.mmt"), "t", "k"],
        vec!["scan", &p("db.mmt"), "t"],
        vec!["stat", &p("db.mmt")],
        vec!["check", &p("db.mmt")],
        vec!["tables", &p("db.mmt")],
        vec!["dump", &p("db.mmt"), "t"],
        vec!["readers", &p("db.mmt")],
    ] {
        let out = mmtree(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(std::fs::read(p("db.mmt")).unwrap(), before);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // (The redo log is part of the database: `put` made it, and the reads left it alone.)
    assert_eq!(names, ["db.mmt", "db.mmt-log", "empty.mmt", "notes.txt"]);
    // Writing still works (and brings the lock file back).
    assert!(mmtree(&["put", &p("db.mmt"), "t", "k2", "v2"])
        .status
        .success());
    assert_eq!(mmtree(&["get", &p("db.mmt"), "t", "k2"]).stdout, b"v2");
}

#[test]
fn put_reads_the_value_from_stdin_or_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    // "-": standard input, stored exactly (the trailing newline too).
    ok(mmtree_stdin(
        &["put", s(&db), "t", "stdin", "-"],
        "line one\nline two\n",
    ));
    assert_eq!(
        get_bytes(&["get", s(&db), "t", "stdin"]),
        b"line one\nline two\n"
    );
    // "@PATH": a file, binary and bigger than fits comfortably in argv.
    let blob: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let file = dir.path().join("blob.bin");
    std::fs::write(&file, &blob).unwrap();
    let at = format!("@{}", s(&file));
    ok(mmtree(&["put", s(&db), "t", "file", &at]));
    assert_eq!(get_bytes(&["get", s(&db), "t", "file"]), blob);
    // With --hex the key is decoded; the file's bytes are stored as they are.
    ok(mmtree(&["put", s(&db), "t", "6b", &at, "--hex"]));
    assert_eq!(get_bytes(&["get", s(&db), "t", "k"]), blob);
    // --value-literal stores "-" and "@..." themselves.
    ok(mmtree(&[
        "put",
        s(&db),
        "t",
        "dash",
        "-",
        "--value-literal",
    ]));
    assert_eq!(get_bytes(&["get", s(&db), "t", "dash"]), b"-");
    ok(mmtree(&[
        "put",
        s(&db),
        "t",
        "mention",
        "@alice",
        "--value-literal",
    ]));
    assert_eq!(get_bytes(&["get", s(&db), "t", "mention"]), b"@alice");
    // A missing file is one clear error, and nothing is stored.
    let missing = dir.path().join("missing.bin");
    fails_with(
        mmtree(&["put", s(&db), "t", "nope", &format!("@{}", s(&missing))]),
        1,
        "missing.bin",
    );
    fails_with(mmtree(&["get", s(&db), "t", "nope"]), 4, "no key");
    let help = ok(mmtree(&["put", "--help"]));
    assert!(help.contains("--value-literal"), "{help}");
}

#[test]
fn dump_all_then_load_all_round_trips_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    for (table, k, v) in [
        ("bin", "00ff10", "0a0d09ff00"),
        ("bin", "", "00"),
        ("text", "6b6579", "76616c7565"),
        ("text", "6b32", "7632"),
    ] {
        ok(mmtree(&["put", s(&db), table, k, v, "--hex"]));
    }
    ok(mmtree(&["tables", s(&db), "create", "empty"]));
    let dump = dir.path().join("all.jsonl");
    ok(mmtree(&["dump", s(&db), "--all", "-o", s(&dump)]));
    let text = std::fs::read_to_string(&dump).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert_eq!(
        lines[0],
        serde_json::json!({"mmtree_dump": 1, "encoding": "text", "all": true})
    );
    assert!(lines[1..].iter().all(|l| l["table"].is_string()), "{text}");
    // From a file, and from standard input.
    let copy = dir.path().join("copy.mmt");
    let out = ok(mmtree(&["load", s(&copy), "--all", s(&dump), "--quiet"]));
    assert!(out.contains("loaded 4 records into 3 tables"), "{out}");
    let copy2 = dir.path().join("copy2.mmt");
    ok(mmtree_stdin(
        &["load", s(&copy2), "--all", "--quiet"],
        &text,
    ));
    for copy in [&copy, &copy2] {
        assert_eq!(
            ok(mmtree(&["tables", s(copy)])),
            ok(mmtree(&["tables", s(&db)]))
        );
        for table in ["bin", "text", "empty"] {
            assert_eq!(
                ok(mmtree(&["scan", s(copy), table, "--hex"])),
                ok(mmtree(&["scan", s(&db), table, "--hex"])),
                "{table}"
            );
        }
    }
    // dump --all and a TABLE, or neither, are usage errors.
    assert_eq!(
        mmtree(&["dump", s(&db), "bin", "--all"]).status.code(),
        Some(2)
    );
    assert_eq!(mmtree(&["dump", s(&db)]).status.code(), Some(2));
    // Loading a dump --all into one table without --all does not mix the tables; nor does a
    // dump --all without its first line.
    let one = dir.path().join("one.mmt");
    fails_with(
        mmtree(&["load", s(&one), "bin", s(&dump), "--quiet"]),
        2,
        "the input is a dump of every table",
    );
    let headless: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    fails_with(
        mmtree_stdin(
            &["load", s(&one), "bin", "--format", "jsonl", "--quiet"],
            &headless,
        ),
        1,
        "line 3: a record for table \"empty\"",
    );
}

#[test]
fn load_errors_name_the_input_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    // CSV records that span lines: the bad record starts on line 5, not at record 3.
    let csv = "k1,\"multi\nline\"\nk2,\"also\nspans\"\nbad\n";
    fails_with(
        mmtree_stdin(&["load", s(&db), "csv", "--format", "csv", "--quiet"], csv),
        1,
        "line 5: expected 2 columns",
    );
    let csv = "key,value\nk1,\"multi\nline\"\nk2,2,extra\n";
    fails_with(
        mmtree_stdin(
            &[
                "load",
                s(&db),
                "csv2",
                "--format",
                "csv",
                "--header",
                "--quiet",
            ],
            csv,
        ),
        1,
        "line 4: expected 2 columns",
    );
    // An oversized key: its line, and the records before it stay committed.
    let input = format!("a\t1\nb\t2\n{}\t3\nd\t4\n", "k".repeat(100_000));
    for batch in ["1", "100"] {
        let table = format!("big{batch}");
        fails_with(
            mmtree_stdin(
                &["load", s(&db), &table, "--batch", batch, "--quiet"],
                &input,
            ),
            1,
            "line 3: key of 100000 bytes is longer than the maximum",
        );
        assert_eq!(
            ok(mmtree(&["scan", s(&db), &table, "--keys-only"])),
            "a\nb\n"
        );
    }
    // --skip-bad counts it as a bad line.
    let out = ok(mmtree_stdin(
        &["load", s(&db), "skipped", "--skip-bad", "--quiet"],
        &input,
    ));
    assert!(
        out.contains("loaded 3 records") && out.contains("(first: line 3: key of 100000"),
        "{out}"
    );
}

#[test]
fn compact_says_when_a_snapshot_holds_pages_back() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = db(&dir);
    load_big_and_small(&db_path);
    // This process reads a snapshot that still shows "big", then it is dropped.
    let db = mmtree::Db::open(&db_path).unwrap();
    let snapshot = db.begin_read().unwrap();
    ok(mmtree(&["tables", s(&db_path), "drop", "big"]));
    let out = ok(mmtree(&["compact", s(&db_path)]));
    assert!(
        out.contains("held back") && out.contains(&format!("pid {}", std::process::id())),
        "{out}"
    );
    assert!(
        out.contains(&format!("commit {}", snapshot.txn_id())),
        "{out}"
    );
    drop(snapshot);
    let out = ok(mmtree(&["compact", s(&db_path)]));
    assert!(!out.contains("held back"), "{out}");
}

#[test]
fn stat_text_shows_human_sizes_and_json_exact_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let db = loaded_db(&dir, 20_000);
    let json: serde_json::Value =
        serde_json::from_str(&ok(mmtree(&["stat", s(&db), "--json"]))).unwrap();
    let file_bytes = std::fs::metadata(&db).unwrap().len();
    assert_eq!(json["file_bytes"], file_bytes);
    assert!(json["tables"][0]["data_bytes"].as_u64().unwrap() > 0);
    let text = ok(mmtree(&["stat", s(&db)]));
    let file_line = text.lines().find(|l| l.contains("  files ")).unwrap();
    assert!(
        file_line.contains("MiB") && !file_line.contains(&file_bytes.to_string()),
        "{text}"
    );
    let cache_line = text.lines().find(|l| l.contains("page cache")).unwrap();
    assert!(
        cache_line.contains("iB of ") && !cache_line.contains("bytes"),
        "{text}"
    );
    let table_line = text.lines().find(|l| l.contains("table t")).unwrap();
    assert!(
        table_line.contains("KiB") || table_line.contains("MiB"),
        "{text}"
    );
}

#[test]
fn completions_and_man_pages_come_from_the_clap_definitions() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef mmtree"),
        ("fish", "complete -c mmtree"),
    ] {
        let script = ok(mmtree(&["completions", shell]));
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(
            script.contains("value-literal"),
            "{shell} lacks put's flags"
        );
    }
    assert_eq!(mmtree(&["completions", "tcsh-ish"]).status.code(), Some(2));
    let page = ok(mmtree(&["man"]));
    assert!(page.contains(".TH mmtree 1"), "{page}");
    assert!(page.contains("Exit codes"), "{page}");
    assert!(page.contains("dump"), "{page}");
    let put = ok(mmtree(&["man", "put"]));
    assert!(put.contains(".TH mmtree-put 1"), "{put}");
    assert!(put.contains("value\\-literal"), "{put}");
    // Issue 28 item 11: every page carries the version; --help's tagline is the crate's.
    let version = format!("mmtree-put {}", env!("CARGO_PKG_VERSION"));
    assert!(put.contains(&version), "{put}");
    let help = ok(mmtree(&["--help"]));
    assert!(help.starts_with(env!("CARGO_PKG_DESCRIPTION")), "{help}");
    fails_with(mmtree(&["man", "nope"]), 2, "no subcommand");
}

#[test]
fn json_after_the_arguments_and_bad_arguments_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = loaded_db(&dir, 10);
    // --json last, after the subcommand's own arguments (and after `tables`' action).
    for args in [
        vec!["tables", s(&db), "list", "--json"],
        vec!["tables", s(&db), "--json", "list"],
        vec!["stat", s(&db), "--json"],
        vec!["check", s(&db), "--json"],
        vec!["readers", s(&db), "--json"],
        vec!["get", s(&db), "t", "key000001", "--json"],
        vec!["scan", s(&db), "t", "--limit", "2", "--json"],
    ] {
        let out = ok(mmtree(&args));
        for line in out.lines() {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
        }
    }
    let listed: serde_json::Value =
        serde_json::from_str(ok(mmtree(&["tables", s(&db), "list", "--json"])).trim()).unwrap();
    assert_eq!(listed["table"], "t");
    // Bad arguments exit 2, whether clap or the subcommand finds them.
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "").unwrap();
    for args in [
        vec!["get"],
        vec!["bogus"],
        vec!["stat", s(&db), "extra"],
        vec!["load", s(&db), "t", "--batch", "0", s(&input)],
        vec!["load", s(&db), "--all", "t", s(&input)],
        vec!["load", s(&db), "--all", s(&input), "--format", "csv"],
        vec!["dump", s(&db)],
        vec!["completions", "nosuchshell"],
        vec!["man", "nosuchcommand"],
    ] {
        let out = mmtree(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{args:?}");
    }
}

/// Issue 13: Ctrl-C during `load` says how many records were committed (and exits 130), even
/// while the loader is blocked reading its input; the database holds exactly those.
#[test]
fn ctrl_c_during_load_says_how_many_records_were_committed() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("int.mmt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mmtree"))
        .args([
            "load",
            db.to_str().unwrap(),
            "t",
            "-",
            "--batch",
            "1000",
            "--quiet",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines: String = (0..2500).map(|i| format!("k{i:05}\tv{i}\n")).collect();
    stdin.write_all(lines.as_bytes()).unwrap();
    stdin.flush().unwrap();
    // Two batches of 1000 commit; 500 records wait in the third while the loader blocks on the
    // open pipe. Wait (bounded) until the two are visible.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = mmtree(&["stat", db.to_str().unwrap(), "--json"]);
        let entries = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| v["tables"][0]["entries"].as_u64());
        if entries == Some(2000) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the loader never committed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted: 2000 records committed in 2 commits"),
        "{stderr}"
    );
    let out = mmtree(&["stat", db.to_str().unwrap(), "--json"]);
    let stat: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stat["tables"][0]["entries"], 2000);
}

/// Issue 13: one error message per failure, naming the path, the OS error said once (it was
/// printed twice: once in mmtree's own message, once more as its cause).
#[test]
fn an_error_is_one_line_naming_the_path_with_the_os_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/x.mmt");
    let out = mmtree(&["put", missing.to_str().unwrap(), "t", "k", "v"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(missing.to_str().unwrap()), "{stderr}");
    assert_eq!(stderr.matches("os error 2").count(), 1, "{stderr}");
}

/// Issue 13: `dump --salvage` gets what can still be read out of a damaged table, says what it
/// skipped, and exits 3; a plain `dump` stops at the damage.
#[test]
fn dump_salvage_skips_a_damaged_leaf_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    load_5000(&db);
    damage_page_20(&db);
    let plain = mmtree(&["dump", s(&db), "t"]);
    assert!(!plain.status.success(), "a plain dump stops at the damage");
    let out = mmtree(&["dump", s(&db), "t", "--salvage"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Most records come out, in key order; only the damaged leaf's are missing.
    assert!(lines.len() > 4800 && lines.len() < 5000, "{}", lines.len());
    let keys: Vec<&str> = lines.iter().map(|l| l["key"].as_str().unwrap()).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(keys[0], "k000000");
    assert_eq!(*keys.last().unwrap(), "k004999");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("salvaged {} records", lines.len())),
        "{err}"
    );
    assert!(
        err.contains("skipped: table \"t\": page 20:") && err.contains("checksum mismatch"),
        "{err}"
    );
}

/// A format-2 file (the library's fixture, see crates/mmtree/tests/upgrade.rs): every command
/// refuses it in one line that names `mmtree upgrade`, which converts it.
#[test]
fn an_old_format_file_is_refused_and_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mmtree/tests/fixtures");
    let old = dir.path().join("old.mmt");
    std::fs::copy(fixtures.join("format2.mmt"), &old).unwrap();
    std::fs::copy(
        fixtures.join("format2.mmt-log"),
        dir.path().join("old.mmt-log"),
    )
    .unwrap();
    fails_with(
        mmtree(&["get", s(&old), "greek", "alpha"]),
        1,
        "mmtree upgrade",
    );
    fails_with(
        mmtree(&["put", s(&old), "greek", "x", "y"]),
        1,
        "format version 2",
    );
    let new = dir.path().join("new.mmt");
    let out = ok(mmtree(&["upgrade", s(&old), s(&new)]));
    assert!(
        out.contains("(format 2)")
            && out.contains("3 tables, 304 entries")
            && out.contains("4 logged commits"),
        "{out}"
    );
    assert_eq!(ok(mmtree(&["get", s(&new), "db0", "logged3"])), "third");
    assert_eq!(ok(mmtree(&["get", s(&new), "greek", "alpha"])), "one");
    fails_with(mmtree(&["upgrade", s(&old), s(&new)]), 1, "already exists");
}

/// Issue 28 item 10: with standard output closed (`>&-`), a command that prints fails with one
/// line instead of exiting 0 having printed nothing.
#[test]
fn closed_stdout_is_an_error_not_a_silent_success() {
    let dir = tempfile::tempdir().unwrap();
    let db = loaded_db(&dir, 2000);
    for args in printing_commands(&dir, &db) {
        let out = Command::new("sh")
            .arg("-c")
            .arg("exec \"$0\" \"$@\" >&-")
            .arg(env!("CARGO_BIN_EXE_mmtree"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            "mmtree: writing output: standard output is closed\n",
            "{args:?}"
        );
    }
    // /dev/null open for reading and writing (as Python's subprocess.DEVNULL gives it) is an
    // open standard output like any other: the output goes there and the command succeeds.
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .unwrap();
    let (status, err) = run_with_stdout(&["stat", s(&db)], null.into());
    assert!(status.success(), "{err}");
    // A command that prints nothing still works (and nothing lands in the database's place).
    let put = Command::new("sh")
        .arg("-c")
        .arg("exec \"$0\" \"$@\" >&-")
        .arg(env!("CARGO_BIN_EXE_mmtree"))
        .args(["put", s(&db), "t", "k", "v"])
        .output()
        .unwrap();
    assert!(put.status.success(), "{}", stderr(&put));
    assert_eq!(ok(mmtree(&["get", s(&db), "t", "k"])), "v");
    ok(mmtree(&["check", s(&db)]));
}

/// Issue 28 item 10: `-o -` is standard output; an empty load still creates its table; `load
/// --sorted` into a table that is not empty is refused, as its help says.
#[test]
fn dash_is_stdout_empty_loads_create_the_table_and_sorted_needs_an_empty_table() {
    let dir = tempfile::tempdir().unwrap();
    let db = loaded_db(&dir, 10);
    let out = ok(Command::new(env!("CARGO_BIN_EXE_mmtree"))
        .current_dir(dir.path())
        .args(["dump", s(&db), "t", "-o", "-"])
        .output()
        .unwrap());
    assert_eq!(out.lines().count(), 11, "{out}");
    assert!(!dir.path().join("-").exists(), "a file named - was created");

    let out = ok(mmtree_stdin(&["load", s(&db), "t2", "--quiet"], ""));
    assert!(out.contains("loaded 0 records into \"t2\""), "{out}");
    assert!(ok(mmtree(&["tables", s(&db)])).contains("t2"));
    assert_eq!(ok(mmtree(&["scan", s(&db), "t2"])), "");

    fails_with(
        mmtree_stdin(&["load", s(&db), "t", "--sorted", "--quiet"], "zz\t1\n"),
        1,
        "--sorted, but table \"t\" is not empty",
    );
    assert_eq!(mmtree(&["get", s(&db), "t", "zz"]).status.code(), Some(4));
    // Into an empty table, --sorted across several batches is fine.
    let input: String = (0..10).map(|i| format!("k{i}\tv\n")).collect();
    ok(mmtree_stdin(
        &["load", s(&db), "t3", "--sorted", "--batch", "3", "--quiet"],
        &input,
    ));
    assert_eq!(
        ok(mmtree(&["scan", s(&db), "t3", "--keys-only"]))
            .lines()
            .count(),
        10
    );
}

/// Issue 28 item 1: on `put`, --hex/--base64 apply to key and value, and --raw keeps VALUE as
/// written (the key alone decoded), as on `get`.
#[test]
fn put_raw_decodes_the_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    ok(mmtree(&["put", s(&db), "t", "00ff", "6869", "--hex"]));
    ok(mmtree(&[
        "put",
        s(&db),
        "t",
        "0100",
        "6869",
        "--hex",
        "--raw",
    ]));
    assert_eq!(
        get_bytes(&["get", s(&db), "t", "00ff", "--hex", "--raw"]),
        b"hi"
    );
    assert_eq!(
        get_bytes(&["get", s(&db), "t", "0100", "--hex", "--raw"]),
        b"6869"
    );
}

/// A database of about 60 MB (table "t"), big enough that a backup or a compaction of it takes
/// a moment to write.
fn big_db(dir: &tempfile::TempDir) -> PathBuf {
    let db = dir.path().join("big.mmt");
    let value = "v".repeat(300);
    let input: String = (0..200_000)
        .map(|i| format!("k{i:08}\t{value}\n"))
        .collect();
    ok(mmtree_stdin(&["load", s(&db), "t", "--quiet"], &input));
    db
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Starts `mmtree ARGS` and, as soon as a file whose name starts with `prefix` appears in
/// `dir`, sends it `signal` ("KILL" or "INT"); returns how it ended.
fn interrupt_when_a_file_appears(
    args: &[&str],
    dir: &Path,
    prefix: &str,
    signal: &str,
) -> std::process::Output {
    let child = Command::new(env!("CARGO_BIN_EXE_mmtree"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    loop {
        if names_in(dir).iter().any(|n| n.starts_with(prefix)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait_with_output().unwrap()
}

/// Issue 28 item 2: a backup killed (SIGKILL) or interrupted (Ctrl-C) mid-way never leaves a
/// file under the real name (it writes DEST.partial-PID and renames it when complete); Ctrl-C
/// removes the partial file; a rerun succeeds.
#[test]
fn an_interrupted_backup_leaves_no_file_under_the_real_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = big_db(&dir);
    let out_dir = tempfile::tempdir().unwrap();
    let mut caught_mid_way = 0;
    for round in 0..6 {
        let dest = out_dir.path().join(format!("copy{round}.mmt"));
        let signal = if round % 2 == 0 { "KILL" } else { "INT" };
        let out = interrupt_when_a_file_appears(
            &["backup", s(&db), s(&dest)],
            out_dir.path(),
            &format!("copy{round}.mmt"),
            signal,
        );
        if out.status.success() {
            // The backup finished before the signal came: a complete copy.
            ok(mmtree(&["check", s(&dest)]));
            continue;
        }
        assert!(!dest.exists(), "round {round} ({signal}): {dest:?} exists");
        caught_mid_way += 1;
        let partial: Vec<String> = names_in(out_dir.path())
            .into_iter()
            .filter(|n| n.starts_with(&format!("copy{round}.mmt.partial-")))
            .collect();
        if signal == "INT" {
            assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
            assert!(partial.is_empty(), "Ctrl-C left {partial:?}");
        }
        // A rerun succeeds, and its copy holds every record.
        ok(mmtree(&["backup", s(&db), s(&dest)]));
        assert!(ok(mmtree(&["check", s(&dest)])).contains("0 problems"));
        assert_eq!(ok(mmtree(&["get", s(&dest), "t", "k00199999"])).len(), 300);
        for name in partial {
            std::fs::remove_file(out_dir.path().join(name)).unwrap();
        }
    }
    assert!(caught_mid_way > 0, "no backup was interrupted mid-way");
    let left: Vec<String> = names_in(out_dir.path())
        .into_iter()
        .filter(|n| !n.ends_with(".mmt"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Issue 28 item 4: `compact --to` leaves only the copy behind (no .partial-PID-log), and
/// Ctrl-C mid-way leaves nothing (no .partial-PID, -lock, -log).
#[test]
fn compact_to_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let db = big_db(&dir);
    let out_dir = tempfile::tempdir().unwrap();
    let dest = out_dir.path().join("packed.mmt");
    ok(mmtree(&["compact", s(&db), "--to", s(&dest)]));
    assert_eq!(names_in(out_dir.path()), ["packed.mmt"]);
    assert!(ok(mmtree(&["check", s(&dest)])).contains("0 problems"));
    assert_eq!(ok(mmtree(&["get", s(&dest), "t", "k00199999"])).len(), 300);

    let dest = out_dir.path().join("again.mmt");
    let out = interrupt_when_a_file_appears(
        &["compact", s(&db), "--to", s(&dest)],
        out_dir.path(),
        "again.mmt",
        "INT",
    );
    if out.status.success() {
        assert_eq!(names_in(out_dir.path()), ["again.mmt", "packed.mmt"]);
    } else {
        assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
        assert_eq!(names_in(out_dir.path()), ["packed.mmt"]);
    }
}

/// Issue 28 item 5: with another process in a write transaction, a command that writes fails
/// at once with --no-wait, after --timeout SECS, or waits saying for whom; `readers` and
/// `stat` name the writer.
#[test]
fn a_writer_waits_and_says_for_whom() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    ok(mmtree(&["put", s(&path), "t", "a", "1"]));
    let db = mmtree::Db::open(&path).unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"held", b"1").unwrap();
    let me = format!("pid {}", std::process::id());
    fails_with(
        mmtree(&["put", s(&path), "t", "k", "v", "--no-wait"]),
        5,
        &format!("another write transaction is in progress ({me}); --no-wait"),
    );
    fails_with(
        mmtree(&["del", s(&path), "t", "a", "--timeout", "0.2"]),
        5,
        &format!("waiting for the writer ({me})"),
    );
    fails_with(
        mmtree(&["tables", s(&path), "create", "x", "--timeout", "0"]),
        5,
        "timed out after",
    );
    fails_with(
        mmtree_stdin(&["load", s(&path), "t", "--no-wait", "--quiet"], "k\tv\n"),
        5,
        &me,
    );
    let readers = ok(mmtree(&["readers", s(&path)]));
    assert!(
        readers.contains(&format!("writer: {me} holds the write lock")),
        "{readers}"
    );
    let stat = ok(mmtree(&["stat", s(&path)]));
    assert!(stat.contains(&format!("writer           {me}")), "{stat}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(mmtree(&["stat", s(&path), "--json"]))).unwrap();
    assert_eq!(json["writer_pid"], std::process::id());

    // Without a bound it waits, says so, and goes on once the writer is done.
    let mut child = Command::new(env!("CARGO_BIN_EXE_mmtree"))
        .args(["put", s(&path), "t", "k", "v"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.contains(&format!("waiting for the writer ({me})")),
        "{line}"
    );
    w.commit().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(ok(mmtree(&["get", s(&path), "t", "k"])), "v");
    assert_eq!(ok(mmtree(&["get", s(&path), "t", "held"])), "1");
    assert!(ok(mmtree(&["readers", s(&path)])).contains("writer: none"));
}

/// Issue 28 item 6: `stat` shows every file's size, free space with what `compact` gives back,
/// in one unit style, and not its own page faults.
#[test]
fn stat_shows_every_file_and_what_compact_gives_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    load_big_and_small(&path);
    ok(mmtree(&["tables", s(&path), "drop", "big"]));
    let text = ok(mmtree(&["stat", s(&path)]));
    let files = text.lines().find(|l| l.contains("  files ")).unwrap();
    assert!(
        files.contains("data ") && files.contains("-log ") && files.contains("-lock "),
        "{text}"
    );
    let free = text.lines().find(|l| l.contains("free space")).unwrap();
    assert!(
        free.contains("`mmtree compact` gives back up to") && free.contains("iB"),
        "{text}"
    );
    assert!(
        !text.contains("faults") && !text.contains(" wait for the next"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(mmtree(&["stat", s(&path), "--json"]))).unwrap();
    let log = format!("{}-log", s(&path));
    assert_eq!(json["files"]["log"], std::fs::metadata(&log).unwrap().len());
    assert!(json["compact_gives_back_bytes"].as_u64().unwrap() > 1 << 20);
    // compact speaks the same units.
    let out = ok(mmtree(&["compact", s(&path)]));
    assert!(out.contains("MiB") && out.contains("given back"), "{out}");
}

/// `stat` promises nothing `compact` will not give: on a small file with a few free pages (the
/// file keeps a margin of at least 1 MiB to grow) it says the free pages are reused and compact
/// gives nothing back, and compact then gives back 0 B. (It said "gives back up to 12.0 KiB".)
#[test]
fn stat_promises_nothing_compact_will_not_give() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    ok(mmtree(&["put", s(&path), "t", "a", "1"]));
    ok(mmtree(&["put", s(&path), "t", "b", "2"]));
    ok(mmtree(&["del", s(&path), "t", "b"]));
    let text = ok(mmtree(&["stat", s(&path)]));
    let free = text.lines().find(|l| l.contains("free space")).unwrap();
    assert!(!free.contains("gives back up to"), "{text}");
    assert!(
        free.starts_with("  free space       0 B") || free.contains("gives nothing back"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(mmtree(&["stat", s(&path), "--json"]))).unwrap();
    assert_eq!(json["compact_gives_back_bytes"], 0, "{json}");
    let out = ok(mmtree(&["compact", s(&path)]));
    assert!(out.contains("(0 B given back)"), "{out}");
}

/// Runs `mmtree ARGS` with standard error on a terminal (through `script`); what it drew.
fn on_a_terminal(args: &[&str]) -> String {
    let command = std::iter::once(env!("CARGO_BIN_EXE_mmtree"))
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("script")
        .args(["-qec", &format!("{command} >/dev/null"), "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", stdout(&out));
    stdout(&out)
}

/// Issue 28 item 1: `mmtree load DB FILE` (the TABLE forgotten) does not wait on the terminal
/// for input: it says what it took FILE for.
#[test]
fn load_without_a_table_does_not_wait_on_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("u.jsonl");
    std::fs::write(&dump, "a\tb\n").unwrap();
    let command = format!(
        "'{}' load '{}' '{}'; echo \"status $?\"",
        env!("CARGO_BIN_EXE_mmtree"),
        s(&dir.path().join("rt.mmt")),
        s(&dump)
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("is a file, taken here for the TABLE"),
        "{text}"
    );
    assert!(text.contains("status 2"), "{text}");
}

/// Issue 28 item 7: the long walks show progress on a terminal (and nothing in a pipe).
#[test]
fn long_walks_show_progress_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let path = loaded_db(&dir, 20_000);
    let copy = dir.path().join("copy.mmt");
    let packed = dir.path().join("packed.mmt");
    for (args, shown) in [
        (vec!["check", s(&path)], "checking every page"),
        (vec!["stat", s(&path)], "walking the file"),
        (vec!["dump", s(&path), "t"], "records"),
        (vec!["backup", s(&path), s(&copy)], "copying"),
        (vec!["compact", s(&path), "--to", s(&packed)], "records"),
        (vec!["compact", s(&path)], "compacting"),
    ] {
        let drawn = on_a_terminal(&args);
        assert!(drawn.contains(shown), "{args:?}: {drawn:?}");
    }
    // In a pipe: no progress at all.
    let out = mmtree(&["check", s(&path)]);
    assert_eq!(stderr(&out), "");
}

/// Issue 28 item 11: the README's `mmtree` block runs line by line as pasted, in an empty
/// directory; no shell block holds placeholders (`[a | b]`, `tsv|csv`) or commands joined
/// with " · ".
#[test]
fn the_readme_shell_blocks_run_as_pasted() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let blocks: Vec<&str> = readme
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert!(blocks.len() >= 4);
    for line in blocks.iter().flat_map(|b| b.lines()) {
        let command = line.split(" # ").next().unwrap();
        assert!(
            !command.contains(" · ") && !command.contains(" [") && !command.contains("tsv|"),
            "not a command as written: {line}"
        );
    }
    let tool = &readme[readme.find("## The `mmtree` tool").unwrap()..];
    let block = tool
        .split("```sh\n")
        .nth(2)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    assert!(block.starts_with("mmtree put"), "{block}");
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_mmtree")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    for line in block.lines() {
        let out = Command::new("bash")
            .args(["-c", line])
            .current_dir(dir.path())
            .env("PATH", &path)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{line}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
    let copy = dir.path().join("copy.mmt");
    assert_eq!(
        ok(mmtree(&["scan", s(&copy), "users"])),
        "alice\t{\"age\":31}\nbob\t{\"age\":27}\ncarol\t{\"age\":45}\n"
    );
}

/// Issue 28 item 9: when the branch pages above the leaves are lost, salvage finds the leaves
/// by their contents and reads every record back, in key order, with its value; a truncated
/// file is salvaged too (from a copy extended with zeros), saying so, never a panic.
#[test]
fn salvage_finds_leaves_below_lost_branches_and_reads_truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    load_5000(&db);
    let mut bytes = std::fs::read(&db).unwrap();
    let mut branches = 0;
    for page in bytes.chunks_mut(4096).skip(2) {
        if page[4] == 1 {
            // A branch page: damaged.
            page[2000] ^= 0xff;
            branches += 1;
        }
    }
    assert!(branches >= 1);
    std::fs::write(&db, &bytes).unwrap();
    let out = mmtree(&["dump", s(&db), "t", "--salvage"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5000, "{}", stderr(&out));
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["key"], format!("k{i:06}"));
        assert_eq!(line["value"], "v".repeat(50));
    }
    let err = stderr(&out);
    assert!(err.contains("found by their contents"), "{err}");

    // Truncated: opened through an extended copy; what the cut took is listed, exit 3.
    let db2 = dir.path().join("cut.mmt");
    load_5000(&db2);
    let stat: serde_json::Value =
        serde_json::from_str(&ok(mmtree(&["stat", s(&db2), "--json"]))).unwrap();
    let needed = stat["page_count"].as_u64().unwrap() * 4096;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db2)
        .unwrap()
        .set_len(needed - 3 * 4096 - 100)
        .unwrap();
    let plain = mmtree(&["dump", s(&db2), "t"]);
    assert!(stderr(&plain).contains("truncated"), "{}", stderr(&plain));
    let out = mmtree(&["dump", s(&db2), "t", "--salvage"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("is truncated") && err.contains("salvaging from a copy"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // Whatever came out is right.
    for (i, line) in stdout(&out).lines().skip(1).enumerate() {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(line["value"], "v".repeat(50), "record {i}");
    }
    // The cut took the catalog (written last): with --all, the surviving leaves come back as
    // lost+found-0, every record right and in order, and load back as they are.
    let out = mmtree(&["dump", s(&db2), "--all", "--salvage"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("found by their contents"), "{err}");
    let text = stdout(&out);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 4000, "{} records: {err}", lines.len());
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["table"], "lost+found-0");
        assert_eq!(line["key"], format!("k{i:06}"));
        assert_eq!(line["value"], "v".repeat(50));
    }
    let back = dir.path().join("back.mmt");
    ok(mmtree_stdin(&["load", s(&back), "--all", "--quiet"], &text));
    assert_eq!(
        ok(mmtree(&["tables", s(&back)])),
        format!("lost+found-0\t{}\n", lines.len())
    );
    // Nothing was left beside the file.
    let names = names_in(dir.path());
    assert!(
        names.iter().all(|n| ["t.mmt", "cut.mmt", "back.mmt"]
            .iter()
            .any(|p| n.starts_with(p))),
        "{names:?}"
    );
}

/// Issue 28 item 8: `upgrade` of a file of a newer format names the formats (not "invalid
/// option"), and of a current one says there is nothing to do.
#[test]
fn upgrade_names_the_format_of_a_file_it_cannot_convert() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    ok(mmtree(&["put", s(&db), "t", "k", "v"]));
    fails_with(
        mmtree(&["upgrade", s(&db), s(&dir.path().join("new.mmt"))]),
        1,
        "is already of format 3: nothing to upgrade",
    );
    let mut bytes = std::fs::read(&db).unwrap();
    for meta in [0usize, 4096] {
        bytes[meta + 8..meta + 12].copy_from_slice(&4u32.to_le_bytes());
        let sum = crc32c::crc32c(&bytes[meta..meta + 64]);
        bytes[meta + 64..meta + 68].copy_from_slice(&sum.to_le_bytes());
    }
    let newer = dir.path().join("newer.mmt");
    std::fs::write(&newer, &bytes).unwrap();
    fails_with(
        mmtree(&["upgrade", s(&newer), s(&dir.path().join("new2.mmt"))]),
        1,
        "uses mmtree file format version 4; this build reads version 3",
    );
    assert!(!dir.path().join("new2.mmt").exists());
}

/// Issue 24: a load of records in random order inserts them (every commit copies the leaves it
/// changes, freeing the older copies); at the end it compacts, so at most a tenth of the file's
/// pages are free, and the last process closing cuts the redo log back to its header.
/// `--no-compact` leaves the free pages.
#[test]
fn a_random_order_load_leaves_at_most_a_tenth_of_the_file_free() {
    let dir = tempfile::tempdir().unwrap();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut input = String::new();
    for _ in 0..60_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        input.push_str(&format!("k{x:016x}\t{}\n", "v".repeat(60)));
    }
    let file = dir.path().join("random.tsv");
    std::fs::write(&file, &input).unwrap();
    let free_share = |db: &Path| {
        let stat: serde_json::Value =
            serde_json::from_str(&ok(mmtree(&["stat", s(db), "--json"]))).unwrap();
        let free = stat["pages_free"].as_u64().unwrap();
        free as f64 / stat["page_count"].as_u64().unwrap() as f64
    };
    let loose = dir.path().join("loose.mmt");
    let out = ok(mmtree(&[
        "load",
        s(&loose),
        "t",
        s(&file),
        "--batch",
        "5000",
        "--no-compact",
        "--quiet",
    ]));
    assert!(!out.contains("compacted"), "{out}");
    assert!(
        free_share(&loose) > 0.1,
        "inserts in random order leave copies behind"
    );
    let packed = dir.path().join("packed.mmt");
    let out = ok(mmtree(&[
        "load",
        s(&packed),
        "t",
        s(&file),
        "--batch",
        "5000",
        "--quiet",
    ]));
    assert!(out.contains("compacted"), "{out}");
    assert!(free_share(&packed) <= 0.1, "{}", free_share(&packed));
    let log = std::fs::metadata(format!("{}-log", packed.display())).unwrap();
    assert_eq!(
        log.len(),
        4096,
        "the log is cut back to its header at the last close"
    );
    assert_eq!(
        ok(mmtree(&["get", s(&packed), "t", &input[..17]])),
        "v".repeat(60)
    );
}
