"""mmtree: an embedded, memory-mapped, crash-safe, ordered key-value store.

    import mmtree

    with mmtree.open("data.mmt") as db:
        with db.begin_write() as w:            # commits on a normal exit, aborts on an exception
            w.table("users")[b"alice"] = b'{"age": 31}'
        with db.begin_read() as r:             # a snapshot
            print(r.table("users").get(b"alice"))

Keys and values are bytes-like; every engine error is an ``mmtree.Error``.
"""

from typing import Literal, Optional, TypedDict, Union

from ._mmtree import (
    FORMAT_VERSION,
    BoundedReadTransaction,
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

BytesLike = Union[bytes, bytearray, memoryview]
"""What keys and values may be given as."""
Value = Union[bytes, memoryview]
"""What reads return: bytes, or memoryviews from begin_read(buffers=True)."""
Durability = Literal["immediate", "eventual"]


class Stats(TypedDict):
    """What Db.stats() returns."""

    txn_id: int
    page_size: int
    page_count: int
    free_pages: int
    file_bytes: int
    readers: int
    oldest_reader_txn: Optional[int]
    oldest_reader_lag: int
    oldest_reader_age: Optional[float]
    pages_held_back: int
    log_bytes: int
    checkpoint_txn: int
    checkpoint_age: float
    checkpoints: int
    last_checkpoint_duration: float
    log_syncs: int
    pages_pinned: int


class TableCheck(TypedDict):
    """One table of a CheckReport."""

    name: str
    entries: int
    depth: int
    pages: int


class CheckReport(TypedDict):
    """What Db.check() returns."""

    ok: bool
    txn_id: int
    page_count: int
    pages_in_use: int
    pages_free: int
    tables: "list[TableCheck]"
    problems: "list[str]"


class ReaderInfo(TypedDict):
    """One entry of Db.readers()."""

    pid: int
    txn: int
    lag: int
    age: float


__all__ = [
    "FORMAT_VERSION",
    "BoundedReadTransaction",
    "BytesLike",
    "CheckReport",
    "Durability",
    "ReaderInfo",
    "Stats",
    "TableCheck",
    "Value",
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
