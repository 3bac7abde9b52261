"""Type hints for mmtree (the extension module `mmtree._mmtree`)."""

from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Iterator, Literal, Optional, TypedDict, TypeVar, Union, final, overload

BytesLike = Union[bytes, bytearray, memoryview]
# Values read back: bytes, or memoryviews from begin_read(buffers=True).
Value = Union[bytes, memoryview]
_T = TypeVar("_T")

__all__ = [
    "FORMAT_VERSION",
    "BytesLike",
    "CheckReport",
    "Corrupted",
    "Db",
    "Durability",
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
    "ReaderInfo",
    "SnapshotExpired",
    "Stats",
    "StorageFull",
    "TableCheck",
    "TransactionClosed",
    "TransactionFailed",
    "Value",
    "BoundedReadTransaction",
    "ValueTooLarge",
    "WriteInProgress",
    "WriteTable",
    "WriteTransaction",
    "open",
]

FORMAT_VERSION: int

class Error(Exception):
    """Base class of every error mmtree raises; the message is the engine's."""

class KeyTooLarge(Error): ...
class ValueTooLarge(Error): ...
class Corrupted(Error): ...
class NotADatabase(Error): ...
class ReadOnly(Error): ...
class WriteInProgress(Error): ...
class SnapshotExpired(Error): ...
class InvalidTableName(Error): ...
class InvalidOption(Error): ...
class StorageFull(Error): ...
class Poisoned(Error): ...
class TransactionFailed(Error): ...
class IoError(Error): ...
class TransactionClosed(Error): ...
class NoSuchTable(Error): ...

class Stats(TypedDict):
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
    name: str
    entries: int
    depth: int
    pages: int

class CheckReport(TypedDict):
    ok: bool
    txn_id: int
    page_count: int
    pages_in_use: int
    pages_free: int
    tables: list[TableCheck]
    problems: list[str]

class ReaderInfo(TypedDict):
    pid: int
    txn: int
    lag: int
    age: float

Durability = Literal["immediate", "eventual"]

def open(
    path: Union[str, PathLike[str]],
    *,
    read_only: bool = False,
    durability: Durability = "immediate",
    page_size: Optional[int] = None,
    sync_interval: Optional[float] = None,
    checkpoint_interval: Optional[float] = None,
    log_bytes: Optional[int] = None,
    spill_bytes: Optional[int] = None,
    verify_checksums: bool = True,
    read_ahead: bool = False,
) -> Db:
    """Opens the database at `path`, creating it if missing (unless read_only)."""

@final
class Db:
    """An open database; `with mmtree.open(...) as db:` closes it at the end."""

    @property
    def path(self) -> Path: ...
    @property
    def closed(self) -> bool: ...
    @property
    def page_size(self) -> int: ...
    @property
    def key_size_max(self) -> int: ...
    def begin_write(self, durability: Optional[Durability] = None) -> WriteTransaction:
        """The write transaction; waits (without the GIL) for another one to end."""
    def try_begin_write(self, durability: Optional[Durability] = None) -> WriteTransaction:
        """The write transaction, or WriteInProgress at once."""
    def begin_read(self, buffers: bool = False) -> ReadTransaction:
        """A snapshot of the newest commit; buffers=True: values are memoryviews."""
    def begin_read_bounded(self, max_age: float) -> BoundedReadTransaction:
        """A snapshot no writer waits for longer than max_age seconds; reads copy."""
    def list_tables(self) -> list[str]: ...
    def stats(self) -> Stats: ...
    def check(self) -> CheckReport: ...
    def backup(self, dest: Union[str, PathLike[str]]) -> int: ...
    def compact(self) -> int: ...
    def sync(self) -> None: ...
    def checkpoint(self) -> None: ...
    def readers(self) -> list[ReaderInfo]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Db: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

@final
@final
class RangeIterator(Iterator[_T]):
    def __iter__(self) -> RangeIterator[_T]: ...
    def __next__(self) -> _T: ...

@final
class WriteTransaction:
    """Commits on a normal exit of its `with` block, aborts on an exception."""

    @property
    def txn_id(self) -> int: ...
    @property
    def active(self) -> bool: ...
    def table(self, name: str) -> WriteTable:
        """The table `name`, created if missing."""
    def delete_table(self, name: str) -> bool: ...
    def list_tables(self) -> list[str]: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...
    def __enter__(self) -> WriteTransaction: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

@final
class WriteTable:
    @property
    def name(self) -> str: ...
    def put(self, key: BytesLike, value: BytesLike) -> None: ...
    def __setitem__(self, key: BytesLike, value: BytesLike, /) -> None: ...
    def remove(self, key: BytesLike) -> bool: ...
    def __delitem__(self, key: BytesLike, /) -> None: ...
    @overload
    def get(self, key: BytesLike) -> Optional[bytes]: ...
    @overload
    def get(self, key: BytesLike, default: _T) -> Union[bytes, _T]: ...
    def __getitem__(self, key: BytesLike, /) -> bytes: ...
    def __contains__(self, key: BytesLike, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> RangeIterator[bytes]: ...
    def range(
        self, start: Optional[BytesLike] = None, end: Optional[BytesLike] = None, reverse: bool = False
    ) -> RangeIterator[tuple[bytes, bytes]]: ...
    def items(
        self, start: Optional[BytesLike] = None, end: Optional[BytesLike] = None, reverse: bool = False
    ) -> RangeIterator[tuple[bytes, bytes]]: ...
    def keys(
        self, start: Optional[BytesLike] = None, end: Optional[BytesLike] = None, reverse: bool = False
    ) -> RangeIterator[bytes]: ...
    def values(
        self, start: Optional[BytesLike] = None, end: Optional[BytesLike] = None, reverse: bool = False
    ) -> RangeIterator[bytes]: ...
    def first(self) -> Optional[tuple[bytes, bytes]]: ...
    def last(self) -> Optional[tuple[bytes, bytes]]: ...

@final
class ReadTransaction:
    """A snapshot; `with db.begin_read() as r:` ends it (and its memoryviews) at the end."""

    @property
    def txn_id(self) -> int: ...
    @property
    def buffers(self) -> bool: ...
    @property
    def active(self) -> bool: ...
    def table(self, name: str) -> ReadTable:
        """The table `name`; NoSuchTable if it does not exist in this snapshot."""
    def list_tables(self) -> list[str]: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def __enter__(self) -> ReadTransaction: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

@final
class ReadTable:
    """Values are bytes, or memoryviews valid inside the block with begin_read(buffers=True)."""

    @property
    def name(self) -> str: ...
    @overload
    def get(self, key: BytesLike) -> Optional[Value]: ...
    @overload
    def get(self, key: BytesLike, default: _T) -> Union[Value, _T]: ...
    def __getitem__(self, key: BytesLike, /) -> Value: ...
    def __contains__(self, key: BytesLike, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> RangeIterator[Value]: ...
    def range(
        self, start: Optional[BytesLike] = None, end: Optional[BytesLike] = None, reverse: bool = False
    ) -> RangeIterator[tuple[Value, Value]]: ...
    def items(
        self, start: Optional[BytesLike] = None, end: Optional[BytesLike] = None, reverse: bool = False
    ) -> RangeIterator[tuple[Value, Value]]: ...
    def keys(
        self, start: Optional[BytesLike] = None, end: Optional[BytesLike] = None, reverse: bool = False
    ) -> RangeIterator[Value]: ...
    def values(
        self, start: Optional[BytesLike] = None, end: Optional[BytesLike] = None, reverse: bool = False
    ) -> RangeIterator[Value]: ...
    def first(self) -> Optional[tuple[Value, Value]]: ...
    def last(self) -> Optional[tuple[Value, Value]]: ...

@final
class BoundedReadTransaction:
    """Db.begin_read_bounded: reads copy; once older than max_age a writer may reuse its
    pages and every read raises SnapshotExpired."""

    @property
    def txn_id(self) -> int: ...
    @property
    def expired(self) -> bool: ...
    def get(self, table: str, key: BytesLike) -> Optional[bytes]: ...
    def range(
        self,
        table: str,
        start: Optional[BytesLike] = None,
        end: Optional[BytesLike] = None,
        limit: int = 1000,
    ) -> list[tuple[bytes, bytes]]: ...
    def table_len(self, table: str) -> Optional[int]: ...
    def list_tables(self) -> list[str]: ...
    def close(self) -> None: ...
    def __enter__(self) -> BoundedReadTransaction: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
