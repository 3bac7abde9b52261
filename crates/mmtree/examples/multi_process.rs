//! Several processes writing one database at once: this program starts copies of itself, each
//! of which commits its own counter entries; the writers take turns through the lock file, and
//! every commit of every process is there at the end.
//!
//! cargo run -p mmtree --example multi_process

use std::process::Command;

const WORKERS: u32 = 3;
const COMMITS: u32 = 50;

fn main() -> mmtree::Result<()> {
    let mut args = std::env::args().skip(1);
    if let (Some(path), Some(worker)) = (args.next(), args.next()) {
        return work(&path, &worker);
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("shared.mmt");
    let children: Vec<_> = (0..WORKERS)
        .map(|worker| {
            Command::new(std::env::current_exe().expect("this program"))
                .arg(&path)
                .arg(worker.to_string())
                .spawn()
                .expect("a worker process")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("a worker's status").success());
    }
    let db = mmtree::Db::open(&path)?;
    let r = db.begin_read()?;
    let t = r.table("events")?.expect("written by the workers");
    println!("{} entries from {WORKERS} processes", t.len());
    assert_eq!(t.len(), u64::from(WORKERS * COMMITS));
    Ok(())
}

/// One worker: `COMMITS` commits of one entry each. `begin_write` waits while another process
/// holds the writer role.
fn work(path: &str, worker: &str) -> mmtree::Result<()> {
    let db = mmtree::Db::open(path)?;
    for i in 0..COMMITS {
        let mut w = db.begin_write()?;
        w.table("events")?
            .insert(format!("{worker}/{i:04}"), std::process::id().to_string())?;
        w.commit()?;
    }
    Ok(())
}
