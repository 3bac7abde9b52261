//! The record parsers of `mmtree load`: TSV, CSV and JSON Lines input into (key, value) pairs.
//! Kept apart from the command (no database, no progress bar) so the fuzz targets in `fuzz/`
//! can include this file and `common.rs` as they are.

use crate::common::Encoding;
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Read};

/// Parsed input records: (line number, key and value or why the line is bad).
pub type Records = dyn Iterator<Item = (u64, Result<(Vec<u8>, Vec<u8>)>)>;

/// `key<TAB>value` per line (a trailing CR is dropped).
pub fn tsv(input: impl Read + 'static, encoding: Encoding) -> Box<Records> {
    Box::new(
        BufReader::new(input)
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
                    Ok((encoding.decode(key)?, encoding.decode(value)?))
                });
                (i as u64 + 1, parsed)
            }),
    )
}

/// Two columns, key and value (RFC 4180 quoting); `header`: the first row is skipped.
pub fn csv(input: impl Read + 'static, header: bool, encoding: Encoding) -> Box<Records> {
    let reader = ::csv::ReaderBuilder::new()
        .has_headers(header)
        .flexible(true)
        .from_reader(input);
    Box::new(reader.into_byte_records().enumerate().map(move |(i, row)| {
        let line = i as u64 + 1 + u64::from(header);
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
            Ok((field(&row[0])?, field(&row[1])?))
        });
        (line, parsed)
    }))
}

/// One JSON object per line with fields "key" and "value".
pub fn jsonl(input: impl Read + 'static, encoding: Encoding) -> Box<Records> {
    Box::new(
        BufReader::new(input)
            .lines()
            .enumerate()
            .map(move |(i, line)| {
                let parsed = line.context("reading the input").and_then(|line| {
                    let object: serde_json::Value =
                        serde_json::from_str(&line).context("not a JSON object")?;
                    let field = |name: &str| -> Result<Vec<u8>> {
                        let value = object
                            .get(name)
                            .with_context(|| format!("no field {name:?}"))?;
                        encoding
                            .decode_json(value)
                            .with_context(|| format!("field {name:?}"))
                    };
                    Ok((field("key")?, field("value")?))
                });
                (i as u64 + 1, parsed)
            }),
    )
}
