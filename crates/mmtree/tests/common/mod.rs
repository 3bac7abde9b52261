//! What several test binaries share.

// Each test binary uses some of it.
#![allow(dead_code)]

/// A tiny deterministic generator (xorshift64), so a failing run can be replayed from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A redo-log record of commit `txn` in log generation `salt` that passes its checksum but
/// cannot be applied: a put naming no table. Layout: `log/mod.rs`.
pub fn unappliable_record(salt: u64, txn: u64) -> Vec<u8> {
    let payload = [
        &[2u8][..],
        &1u32.to_le_bytes(),
        b"k",
        &1u32.to_le_bytes(),
        b"v",
    ]
    .concat();
    let mut record = vec![0u8; 32];
    record[4..8].copy_from_slice(b"MMTR");
    record[8..16].copy_from_slice(&salt.to_le_bytes());
    record[16..24].copy_from_slice(&txn.to_le_bytes());
    record[24..28].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    record[28..32].copy_from_slice(&1u32.to_le_bytes());
    record.extend_from_slice(&payload);
    let sum = crc32c::crc32c(&record[4..]);
    record[0..4].copy_from_slice(&sum.to_le_bytes());
    record
}
