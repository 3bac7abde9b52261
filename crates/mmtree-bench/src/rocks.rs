//! The RocksDB side (to be written; behind the `rocksdb` cargo feature).
