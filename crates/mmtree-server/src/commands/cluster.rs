//! CLUSTER: `mmtree serve` is not a cluster node (shards sit behind a proxy instead:
//! docs/SCALE-OUT.md), so every CLUSTER call gets the reply a Redis started without
//! `cluster-enabled` gives. Clients probe with CLUSTER INFO or CLUSTER SLOTS and take this as
//! "not a cluster". NOSCRIPT in the table, as Redis flags CLUSTER RESET and its kin.

use crate::keyspace::Ks;
use crate::resp::Reply;

pub fn cluster(_ks: &mut Ks<'_>, _a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    Ok(Reply::Error(
        "ERR This instance has cluster support disabled".into(),
    ))
}
