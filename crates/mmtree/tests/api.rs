//! The library's API as a Rust developer meets it (issue 28): prefix scans, errors that name
//! their file.

use mmtree::Db;

/// Issue 28 item 12: `prefix` gives the entries whose keys start with a prefix, from either
/// end, in a snapshot and in the write transaction (its own changes included), with prefixes
/// as `&str`, byte strings or vectors; the edges (empty prefix, 0xff bytes) included.
#[test]
fn prefix_scans_from_either_end() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("data.mmt")).unwrap();
    let keys: [&[u8]; 7] = [
        b"a",
        b"user:",
        b"user:1",
        b"user:2",
        b"user;",
        b"\xff\xff",
        b"\xff\xff\x00",
    ];
    let mut w = db.begin_write().unwrap();
    {
        let mut t = w.table("t").unwrap();
        for key in keys {
            t.insert(key, b"v").unwrap();
        }
        // The write transaction's own view.
        let got: Vec<&[u8]> = t.prefix("user:").unwrap().map(|e| e.unwrap().0).collect();
        assert_eq!(got, [&b"user:"[..], b"user:1", b"user:2"]);
    }
    w.commit().unwrap();
    let r = db.begin_read().unwrap();
    let t = r.table("t").unwrap().unwrap();
    fn keys_of<'a>(
        range: impl Iterator<Item = mmtree::Result<(&'a [u8], &'a [u8])>>,
    ) -> Vec<Vec<u8>> {
        range.map(|e| e.unwrap().0.to_vec()).collect()
    }
    assert_eq!(
        keys_of(t.prefix(b"user:").unwrap()),
        [b"user:".to_vec(), b"user:1".to_vec(), b"user:2".to_vec()]
    );
    assert_eq!(
        keys_of(t.prefix(String::from("user:")).unwrap().rev()),
        [b"user:2".to_vec(), b"user:1".to_vec(), b"user:".to_vec()]
    );
    assert_eq!(keys_of(t.prefix("").unwrap()).len(), keys.len());
    assert_eq!(
        keys_of(t.prefix(vec![0xffu8, 0xff]).unwrap()),
        [b"\xff\xff".to_vec(), b"\xff\xff\x00".to_vec()]
    );
    assert!(keys_of(t.prefix("zzz").unwrap()).is_empty());
}

/// Issue 28 item 8: an I/O error names the file it is about, and says the OS error once.
#[test]
fn an_io_error_names_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("data.mmt");
    let error = Db::open(&path).err().expect("no such directory");
    let text = error.to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains("No such file or directory"),
        "{text}"
    );
    assert!(
        matches!(&error, mmtree::Error::Io { path: Some(p), .. } if *p == path),
        "{error:?}"
    );
    assert_eq!(text.matches("No such file").count(), 1, "{text}");
}

/// Issue 28 item 12 (part): keys and values are anything that is bytes (`AsRef<[u8]>`): string
/// literals, `String`, `Vec<u8>`, arrays, slices; `get("k")` compiles.
#[test]
fn keys_and_values_are_anything_that_is_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("asref.mmt")).unwrap();
    let mut w = db.begin_write().unwrap();
    {
        let mut t = w.table("t").unwrap();
        t.insert("alice", "31").unwrap();
        t.insert(String::from("bob"), vec![4u8, 2]).unwrap();
        t.insert([1u8, 2, 3], b"bytes").unwrap();
        t.insert(&b"carol"[..], String::from("x")).unwrap();
        assert_eq!(t.get("alice").unwrap(), Some(&b"31"[..]));
        assert!(t.remove(String::from("carol")).unwrap());
        assert!(!t.remove("carol").unwrap());
    }
    w.commit().unwrap();
    let r = db.begin_read().unwrap();
    let t = r.table("t").unwrap().unwrap();
    assert_eq!(t.get("bob").unwrap(), Some(&[4u8, 2][..]));
    assert_eq!(t.get(vec![1u8, 2, 3]).unwrap(), Some(&b"bytes"[..]));
    assert_eq!(t.get(String::from("carol")).unwrap(), None);
    drop(r);
    let mut bounded = db
        .begin_read_bounded(std::time::Duration::from_secs(60))
        .unwrap();
    assert_eq!(bounded.get("t", "alice").unwrap(), Some(b"31".to_vec()));
}
