//! What the subcommands share: opening a database, key/value encodings, exit codes, and
//! standard output.

use anyhow::{bail, Context, Result};
use base64::Engine;
use std::io::Write;
use std::path::Path;

/// Writes one line to standard output, like `println!`, but returns an error instead of
/// panicking when standard output is closed or full: `outln!(...)?`. Every subcommand prints
/// through this (or through [`stdout_error`]-mapped writers), and `main` turns the error into
/// a quiet exit (EPIPE) or one line "mmtree: writing output: REASON" (exit 1).
macro_rules! outln {
    () => {
        $crate::common::out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::common::out(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

/// A failed write to standard output (see [`outln!`]).
#[derive(Debug)]
pub struct OutputError(pub std::io::Error);

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "writing output: {}", io_reason(&self.0))
    }
}

impl std::error::Error for OutputError {}

/// An I/O error's reason without the " (os error N)" suffix: "No space left on device".
pub fn io_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text,
    }
}

/// Wraps an error from writing standard output (`.map_err(stdout_error)?`).
pub fn stdout_error(error: std::io::Error) -> anyhow::Error {
    OutputError(error).into()
}

/// Set when the process started with standard output closed (`mmtree … >&-`).
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Notes that the process started with standard output closed (see `main`'s
/// `STDOUT_WAS_CLOSED`):
/// every write to standard output then fails with "writing output: standard output is closed".
pub fn mark_stdout_closed() {
    STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Standard output, locked; every write fails if standard output was closed at start.
pub fn stdout() -> Stdout {
    Stdout(std::io::stdout().lock())
}

/// See [`stdout`].
pub struct Stdout(std::io::StdoutLock<'static>);

fn closed() -> std::io::Result<()> {
    if STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed) {
        Err(std::io::Error::other("standard output is closed"))
    } else {
        Ok(())
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        closed()?;
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Nothing reached the buffer if standard output was closed (`write` failed).
        self.0.flush()
    }
}

/// Writes formatted text to standard output (what [`outln!`] expands to).
pub fn out(args: std::fmt::Arguments<'_>) -> Result<()> {
    stdout().write_fmt(args).map_err(stdout_error)
}

/// Writes bytes to standard output, as they are.
pub fn out_bytes(bytes: &[u8]) -> Result<()> {
    stdout().write_all(bytes).map_err(stdout_error)
}

/// A size for people: "4096 B", "1.5 MiB" (binary units; `--json` output keeps exact bytes).
pub fn human_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else {
        bytesize::ByteSize::b(bytes).display().iec().to_string()
    }
}

/// Exit codes (documented in `mmtree --help` and the README).
pub mod exit {
    /// Something went wrong (a one-line message on stderr).
    pub const ERROR: i32 = 1;
    /// Bad arguments (clap's usage error).
    pub const USAGE: i32 = 2;
    /// `check` found problems.
    pub const PROBLEMS: i32 = 3;
    /// `get`/`del`: the key (or table) does not exist.
    pub const NOT_FOUND: i32 = 4;
    /// A command that writes did not get the write lock: `--no-wait`, or `--timeout` ran out.
    pub const BUSY: i32 = 5;
    /// `load` stopped by Ctrl-C (128 + SIGINT, as a shell reports it).
    pub const INTERRUPTED: i32 = 130;
}

/// An error that carries its exit code.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

pub fn exit_with(code: i32, message: impl Into<String>) -> anyhow::Error {
    Exit {
        code,
        message: message.into(),
    }
    .into()
}

/// The error for a table that does not exist (exit code 4).
pub fn no_table(name: &str) -> anyhow::Error {
    exit_with(exit::NOT_FOUND, format!("no table {name:?}"))
}

/// Opens an existing database for a command that only reads: read-only (`Options::read_only`),
/// so it works on read-only media and without write permission, and creates or changes
/// nothing (no lock file, no header written into an empty file).
pub fn open_existing(path: &Path) -> Result<mmtree::Db> {
    if !path.exists() {
        bail!("{}: no such file", path.display());
    }
    mmtree::Db::open_with(path, mmtree::Options::default().read_only(true))
        .with_context(|| format!("opening {}", path.display()))
}

/// Opens an existing database for a command that writes; never creates one by accident.
pub fn open_existing_writable(path: &Path) -> Result<mmtree::Db> {
    if !path.exists() {
        bail!("{}: no such file", path.display());
    }
    mmtree::Db::open(path).with_context(|| format!("opening {}", path.display()))
}

/// Opens a database, creating it if missing (commands that write).
pub fn open_or_create(path: &Path) -> Result<mmtree::Db> {
    mmtree::Db::open(path).with_context(|| format!("opening {}", path.display()))
}

/// How keys and values are written on the command line and in text output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    /// The bytes as they are (JSON output: a string if valid UTF-8, else {"base64": "..."}).
    #[default]
    Text,
    /// Lowercase hexadecimal.
    Hex,
    /// Standard base64.
    Base64,
}

/// The `--hex`/`--base64` flags every key/value command takes.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct EncodingFlags {
    /// Keys and values are hexadecimal.
    #[arg(long, conflicts_with = "base64")]
    pub hex: bool,
    /// Keys and values are base64.
    #[arg(long)]
    pub base64: bool,
}

impl EncodingFlags {
    pub fn encoding(self) -> Encoding {
        if self.hex {
            Encoding::Hex
        } else if self.base64 {
            Encoding::Base64
        } else {
            Encoding::Text
        }
    }
}

impl Encoding {
    pub fn decode(self, text: &str) -> Result<Vec<u8>> {
        match self {
            Encoding::Text => Ok(text.as_bytes().to_vec()),
            Encoding::Hex => decode_hex(text),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(text)
                .with_context(|| format!("{text:?} is not valid base64")),
        }
    }

    /// Hex or base64 text; the bytes themselves for `Text` (which may not be UTF-8: write
    /// them with [`out_bytes`], never through a `String`).
    pub fn encode(self, bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Encoding::Text => bytes.into(),
            Encoding::Hex => hex(bytes).into_bytes().into(),
            Encoding::Base64 => base64(bytes).into_bytes().into(),
        }
    }

    /// Bytes as a JSON value, for `--json` output: hex or base64 strings if chosen; otherwise
    /// a string if the bytes are valid UTF-8, else `{"base64": "..."}` (`load --format jsonl`
    /// reads both back exactly).
    pub fn json(self, bytes: &[u8]) -> serde_json::Value {
        match self {
            Encoding::Hex => hex(bytes).into(),
            Encoding::Base64 => base64(bytes).into(),
            Encoding::Text => match std::str::from_utf8(bytes) {
                Ok(text) => text.into(),
                Err(_) => serde_json::json!({ "base64": base64(bytes) }),
            },
        }
    }

    /// The inverse of [`Encoding::json`].
    pub fn decode_json(self, value: &serde_json::Value) -> Result<Vec<u8>> {
        match (self, value) {
            (_, serde_json::Value::String(text)) => self.decode(text),
            (Encoding::Text, serde_json::Value::Object(object)) if object.len() == 1 => {
                let text = object
                    .get("base64")
                    .and_then(|v| v.as_str())
                    .context("expected a string or {\"base64\": \"...\"}")?;
                Encoding::Base64.decode(text)
            }
            (Encoding::Text, _) => bail!("expected a string or {{\"base64\": \"...\"}}"),
            _ => bail!("expected a string"),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode_hex(text: &str) -> Result<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        bail!("{text:?} is not valid hex (odd length)");
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(text.get(i..i + 2).unwrap_or("zz"), 16)
                .with_context(|| format!("{text:?} is not valid hex"))
        })
        .collect()
}

/// Text for display (`scan --escape`, error messages), reversible: valid UTF-8 as is except
/// `\` as `\\`, newline, tab and carriage return as `\n`, `\t`, `\r`, other control
/// characters as `\u{N}` (hex), and bytes that are not UTF-8 as `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}
