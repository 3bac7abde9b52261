//! GEO writes: GEOADD (ZADD of geohash scores, as Redis does it), and the searches that may
//! store what they find: GEORADIUS and GEORADIUSBYMEMBER (STORE, STOREDIST) and
//! GEOSEARCHSTORE. The search is the reads' (`commands::geo::search`), run over this
//! transaction.

use super::sorted_sets::{add_members, store_zset, AddFlags};
use super::{err, fault_reply, reading};
use crate::commands::geo::{self, Form, Outcome};
use crate::commands::geohash;
use crate::resp::Reply;
use crate::store::{Tx, TxResult};

/// GEOADD key [NX|XX] [CH] longitude latitude member [longitude latitude member …].
pub fn geoadd(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let mut flags = AddFlags::default();
    let mut first = 1;
    while let Some(word) = a.get(first) {
        match word.to_ascii_lowercase().as_slice() {
            b"nx" => flags.nx = true,
            b"xx" => flags.xx = true,
            b"ch" => flags.ch = true,
            _ => break,
        }
        first += 1;
    }
    let triples = &a[first..];
    if triples.is_empty() || !triples.len().is_multiple_of(3) || (flags.nx && flags.xx) {
        return err("ERR syntax error");
    }
    let mut scored = Vec::with_capacity(triples.len() / 3);
    for triple in triples.chunks(3) {
        let (longitude, latitude) = match geo::coordinates(&triple[..2]) {
            Ok(c) => c,
            Err(e) => return Ok(e),
        };
        // A 52-bit integer: exact as an f64 score.
        let score = geohash::score_of(longitude, latitude) as f64;
        scored.push((score, &triple[2][..]));
    }
    add_members(tx, &a[0], flags, &scored)
}

/// A search that may store (`form`): its reply, or what it found stored at its destination.
fn search_and_store(tx: &mut Tx<'_>, form: Form, a: &[Vec<u8>]) -> TxResult<Reply> {
    match reading(tx, |ks| geo::search(ks, form, a)) {
        Ok(Outcome::Reply(r)) => Ok(r),
        Ok(Outcome::Store {
            destination,
            members,
            event,
        }) => store_zset(tx, &destination, members, event),
        Err(fault) => fault_reply(fault),
    }
}

/// GEORADIUS.
pub fn georadius(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    search_and_store(tx, Form::Radius, a)
}

/// GEORADIUSBYMEMBER.
pub fn georadiusbymember(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    search_and_store(tx, Form::RadiusByMember, a)
}

/// GEOSEARCHSTORE.
pub fn geosearchstore(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    search_and_store(tx, Form::SearchStore, a)
}
