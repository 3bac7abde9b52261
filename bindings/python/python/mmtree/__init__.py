"""mmtree: an embedded, memory-mapped, crash-safe, ordered key-value store.

    import mmtree

    with mmtree.open("data.mmt") as db:
        with db.begin_write() as w:            # commits on a normal exit, aborts on an exception
            w.table("users")[b"alice"] = b'{"age": 31}'
        with db.begin_read() as r:             # a snapshot
            print(r.table("users").get(b"alice"))

Keys and values are bytes-like; every engine error is an ``mmtree.Error``.
"""

from ._mmtree import (
    FORMAT_VERSION,
    Corrupted,
    Db,
    Error,
    InvalidOption,
    InvalidTableName,
    IoError,
    KeyTooLarge,
    NoSuchTable,
    NotADatabase,
    Poisoned,
    RangeIterator,
    ReadOnly,
    ReadTable,
    ReadTransaction,
    SnapshotExpired,
    StorageFull,
    TransactionClosed,
    TransactionFailed,
    ValueTooLarge,
    WriteInProgress,
    WriteTable,
    WriteTransaction,
    open,
)

__all__ = [
    "FORMAT_VERSION",
    "Corrupted",
    "Db",
    "Error",
    "InvalidOption",
    "InvalidTableName",
    "IoError",
    "KeyTooLarge",
    "NoSuchTable",
    "NotADatabase",
    "Poisoned",
    "RangeIterator",
    "ReadOnly",
    "ReadTable",
    "ReadTransaction",
    "SnapshotExpired",
    "StorageFull",
    "TransactionClosed",
    "TransactionFailed",
    "ValueTooLarge",
    "WriteInProgress",
    "WriteTable",
    "WriteTransaction",
    "open",
]
