//! Two tables kept in step in one transaction (a record table and an index of it, through
//! table handles), then range and prefix scans, one of them finished on another thread.
//!
//! cargo run -p mmtree --example tables_and_ranges

fn main() -> mmtree::Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = mmtree::Db::open(dir.path().join("shop.mmt"))?;

    // Several tables at once: handles borrow nothing; each call takes the transaction.
    let mut w = db.begin_write()?;
    let orders = w.table_handle("orders")?;
    let by_customer = w.table_handle("orders_by_customer")?;
    let rows = [
        ("o-1001", "ann", "2 pears"),
        ("o-1002", "bo", "1 melon"),
        ("o-1003", "ann", "6 eggs"),
        ("o-1004", "cy", "1 loaf"),
    ];
    for (id, customer, what) in rows {
        orders.insert(&mut w, id, what)?;
        by_customer.insert(&mut w, format!("{customer}/{id}"), id)?;
    }
    // Reads borrow the transaction shared: an index entry and its record at once.
    for item in by_customer.prefix(&w, "ann/")? {
        let (_, id) = item?;
        let what = orders.get(&w, id)?.expect("indexed orders exist");
        println!("ann ordered {}", String::from_utf8_lossy(what));
    }
    w.commit()?;

    let r = db.begin_read()?;
    let orders = r.table("orders")?.expect("committed");
    // Range bounds are anything that is bytes; `.rev()` scans from the end.
    let newest_two: Vec<String> = orders
        .range("o-1002"..)?
        .rev()
        .take(2)
        .map(|item| item.map(|(key, _)| String::from_utf8_lossy(key).into_owned()))
        .collect::<mmtree::Result<_>>()?;
    println!("newest two: {newest_two:?}");

    // A scan is Send: start it here, finish it on another thread.
    let mut scan = orders.range(..)?;
    let first = scan.next().transpose()?.map(|(key, _)| key);
    let rest = std::thread::scope(|s| s.spawn(move || scan.count()).join().expect("no panic"));
    println!(
        "first {:?}, then {rest} more",
        first.map(String::from_utf8_lossy)
    );
    Ok(())
}
