//! Bulk-load sorted entries into packed pages, check the file, take a hot backup while a
//! writer goes on, and compact.
//!
//! cargo run -p mmtree --example bulk_and_backup

fn main() -> mmtree::Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = mmtree::Db::open(dir.path().join("data.mmt"))?;

    let mut w = db.begin_write()?;
    {
        let mut loader = w.bulk_load("events")?; // sorted input into an empty table
        for i in 0..100_000u32 {
            loader.append(&i.to_be_bytes(), format!("event {i}").as_bytes())?;
        }
        loader.finish()?;
    }
    w.commit()?;

    let report = db.check()?; // the full integrity walk
    println!(
        "check: {} pages in use, {} problems",
        report.pages_in_use,
        report.problems.len()
    );

    std::thread::scope(|s| -> mmtree::Result<()> {
        s.spawn(|| -> mmtree::Result<()> {
            for i in 0..100u32 {
                let mut w = db.begin_write()?;
                w.table("events")?.remove(i.to_be_bytes())?;
                w.commit()?;
            }
            Ok(())
        });
        // A consistent copy of one commit, written as copy.mmt.partial-PID and renamed.
        let bytes = db.backup(dir.path().join("copy.mmt"))?;
        println!("backup: {bytes} bytes");
        Ok(())
    })?;

    let given_back = db.compact()?;
    println!(
        "compact gave back {given_back} bytes; stats: {:?}",
        db.stats().page_count
    );
    Ok(())
}
