//! The record parsers of `mmtree load`: TSV, CSV and JSON Lines input into records with their
//! line numbers. Kept apart from the command (no database, no progress bar) so the fuzz targets
//! in `fuzz/` can include this file and `common.rs` as they are.

use crate::common::Encoding;
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Read};

/// One input record: the table it names (JSON Lines only), and its key and value (none for
/// a `{"table": …}` line, which only creates the table).
pub struct Record {
    pub table: Option<String>,
    pub entry: Option<(Vec<u8>, Vec<u8>)>,
}

/// Parsed input records: (line number, the record or why the line is bad).
pub type Records = dyn Iterator<Item = (u64, Result<Record>)>;

fn plain(entry: (Vec<u8>, Vec<u8>)) -> Record {
    Record {
        table: None,
        entry: Some(entry),
    }
}

/// `key<TAB>value` per line (a trailing CR is dropped).
pub fn tsv(counted: impl Read + 'static, encoding: Encoding) -> Box<Records> {
    Box::new(
        BufReader::new(counted)
            .split(b'\n')
            .enumerate()
            .map(move |(i, line)| {
                let parsed = line.context("reading the input").and_then(|mut line| {
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    let text =
                        String::from_utf8(line).map_err(|_| anyhow::anyhow!("not UTF-8 text"))?;
                    let (key, value) = text
                        .split_once('\t')
                        .context("no tab between key and value")?;
                    Ok(plain((encoding.decode(key)?, encoding.decode(value)?)))
                });
                (i as u64 + 1, parsed)
            }),
    )
}

/// Two columns, key and value (RFC 4180 quoting); `header`: the first row is skipped. A
/// record's line is the line where it starts (a quoted field may span lines).
pub fn csv(counted: impl Read + 'static, header: bool, encoding: Encoding) -> Box<Records> {
    let reader = ::csv::ReaderBuilder::new()
        .has_headers(header)
        .flexible(true)
        .from_reader(counted);
    let mut last_line = u64::from(header);
    Box::new(reader.into_byte_records().enumerate().map(move |(i, row)| {
        // The line where the record starts (a quoted field may span lines).
        let position = match &row {
            Ok(row) => row.position().cloned(),
            Err(error) => error.position().cloned(),
        };
        let line = match position {
            Some(position) => position.line(),
            None if i == 0 => 1 + u64::from(header),
            None => last_line + 1,
        };
        last_line = line;
        let parsed = row.context("malformed CSV").and_then(|row| {
            if row.len() != 2 {
                bail!("expected 2 columns, found {}", row.len());
            }
            let field = |f: &[u8]| -> Result<Vec<u8>> {
                match encoding {
                    Encoding::Text => Ok(f.to_vec()),
                    other => other.decode(std::str::from_utf8(f).context("not UTF-8 text")?),
                }
            };
            Ok(plain((field(&row[0])?, field(&row[1])?)))
        });
        (line, parsed)
    }))
}

/// One JSON object per line: "key" and "value", and "table" (`dump --all`; a line with only a
/// table creates it).
pub fn jsonl(counted: impl Read + 'static, encoding: Encoding) -> Box<Records> {
    Box::new(
        BufReader::new(counted)
            .lines()
            .enumerate()
            .map(move |(i, line)| {
                let parsed = line.context("reading the input").and_then(|line| {
                    let object: serde_json::Value =
                        serde_json::from_str(&line).context("not a JSON object")?;
                    if !object.is_object() {
                        bail!("not a JSON object");
                    }
                    let table = match object.get("table") {
                        None => None,
                        Some(serde_json::Value::String(name)) => Some(name.clone()),
                        Some(_) => bail!("field \"table\": expected a string"),
                    };
                    if table.is_some()
                        && object.get("key").is_none()
                        && object.get("value").is_none()
                    {
                        // `dump --all`'s line for an empty table.
                        return Ok(Record { table, entry: None });
                    }
                    let field = |name: &str| -> Result<Vec<u8>> {
                        let value = object
                            .get(name)
                            .with_context(|| format!("no field {name:?}"))?;
                        encoding
                            .decode_json(value)
                            .with_context(|| format!("field {name:?}"))
                    };
                    Ok(Record {
                        table,
                        entry: Some((field("key")?, field("value")?)),
                    })
                });
                (i as u64 + 1, parsed)
            }),
    )
}

/// The field that marks the first line of `mmtree dump`'s output (its value: the dump format).
pub const DUMP_MARK: &str = "mmtree_dump";
/// The dump format this build writes and reads.
pub const DUMP_FORMAT: u64 = 1;

/// What a dump's first line says about the lines after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpHeader {
    /// How keys and values are written.
    pub encoding: Encoding,
    /// Every line names its table (`dump --all`).
    pub all: bool,
}

impl DumpHeader {
    /// The line `mmtree dump` writes first: {"mmtree_dump":1,"encoding":"text","all":false}.
    pub fn line(self) -> String {
        serde_json::json!({
            DUMP_MARK: DUMP_FORMAT,
            "encoding": encoding_name(self.encoding),
            "all": self.all,
        })
        .to_string()
    }

    /// `Some` if `line` is a dump's first line (then: what it says, or why it cannot be read),
    /// `None` for any other line.
    pub fn parse(line: &[u8]) -> Option<Result<DumpHeader>> {
        let trimmed = line.trim_ascii();
        if !trimmed.starts_with(b"{")
            || !trimmed
                .windows(DUMP_MARK.len())
                .any(|w| w == DUMP_MARK.as_bytes())
        {
            return None;
        }
        let object: serde_json::Value = serde_json::from_slice(trimmed).ok()?;
        let format = object.get(DUMP_MARK)?;
        Some((|| {
            if format.as_u64() != Some(DUMP_FORMAT) {
                bail!("a dump of format {format}; this build reads format {DUMP_FORMAT}");
            }
            let encoding = match object.get("encoding").and_then(|e| e.as_str()) {
                Some("text") => Encoding::Text,
                Some("hex") => Encoding::Hex,
                Some("base64") => Encoding::Base64,
                other => bail!("the dump's first line names no known encoding ({other:?})"),
            };
            let all = object.get("all").and_then(|a| a.as_bool()).unwrap_or(false);
            Ok(DumpHeader { encoding, all })
        })())
    }
}

/// An encoding's name in a dump's first line (as on the command line: `--hex`, `--base64`).
pub fn encoding_name(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Text => "text",
        Encoding::Hex => "hex",
        Encoding::Base64 => "base64",
    }
}
