//! Open a database, write a few entries in one durable commit, read them back from a snapshot.
//!
//! cargo run -p mmtree --example basic

fn main() -> mmtree::Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = mmtree::Db::open(dir.path().join("data.mmt"))?;

    let mut w = db.begin_write()?;
    {
        let mut users = w.table("users")?;
        users.insert(b"alice", b"{\"age\":31}")?;
        users.insert(b"bob", b"{\"age\":27}")?;
        users.insert(b"carol", b"{\"age\":45}")?;
    }
    w.commit()?; // durable when it returns

    let r = db.begin_read()?;
    let users = r.table("users")?.expect("the table was created");
    println!(
        "alice: {:?}",
        users.get(b"alice")?.map(String::from_utf8_lossy)
    );
    if let Some((key, _)) = users.first()? {
        println!(
            "{} users, the first {}",
            users.len(),
            String::from_utf8_lossy(key)
        );
    }
    for item in users.range("b"..)? {
        let (key, value) = item?;
        println!(
            "{} = {}",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(value)
        );
    }
    Ok(())
}
