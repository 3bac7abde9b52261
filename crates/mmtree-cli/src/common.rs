//! What the subcommands share: opening a database, key/value encodings, exit codes.

use anyhow::{bail, Context, Result};
use base64::Engine;
use std::path::Path;

/// Exit codes (documented in `mmtree --help` and the README).
pub mod exit {
    /// Something went wrong (a one-line message on stderr).
    pub const ERROR: i32 = 1;
    /// Bad arguments (clap's usage error).
    #[allow(dead_code)]
    pub const USAGE: i32 = 2;
    /// `check` found problems.
    pub const PROBLEMS: i32 = 3;
    /// `get`/`del`: the key (or table) does not exist.
    pub const NOT_FOUND: i32 = 4;
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

/// Opens an existing database; never creates one by accident.
pub fn open_existing(path: &Path) -> Result<mmtree::Db> {
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
    /// UTF-8 text (binary bytes are shown with escapes on output).
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

    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Text => escape(bytes),
            Encoding::Hex => bytes.iter().map(|b| format!("{b:02x}")).collect(),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }
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

/// Text for display: valid UTF-8 as is (control characters escaped), other bytes as `\xNN`.
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
