//! Large files split over the slices: text, CSV, JSON, ORC and Avro by byte ranges,
//! Parquet by row groups; and the check that text byte ranges started where records
//! start.

use std::collections::BTreeMap;

use blueshift_operators::load::{
    Compression, FilePart, LoadFile, LoadFormat, LoadSpec, parquet_row_groups,
};
use blueshift_proto::LoadFileStats;

use crate::error::LeaderError;

/// Files larger than this are split over slices (uncompressed text, CSV and JSON,
/// and ORC and Avro, by byte ranges; Parquet by row groups).
const SPLIT_BYTES: u64 = 64 * 1024 * 1024;

/// [`SPLIT_BYTES`], or `BLUESHIFT_COPY_SPLIT_BYTES` (for tests, which split small
/// files).
fn split_bytes() -> u64 {
    std::env::var("BLUESHIFT_COPY_SPLIT_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(SPLIT_BYTES)
}

/// `files`, with the large ones that can be split cut into parts of about
/// [`SPLIT_BYTES`]: uncompressed text, CSV and JSON into byte ranges, each loading
/// the records that start after the first line end in it; ORC and Avro into byte
/// ranges, each loading the stripes or blocks that start in it; Parquet into groups
/// of row groups. A record may span lines (a quoted newline in CSV, a JSON object over
/// several lines, an escaped newline in text), so a range may start inside one:
/// [`ranges_line_up`] finds out after the load, which then runs again with the files
/// whole.
pub(super) async fn split_files(
    files: Vec<LoadFile>,
    spec: &LoadSpec,
) -> Result<Vec<LoadFile>, LeaderError> {
    let byte_ranges = spec.format != LoadFormat::Parquet && spec.compression == Compression::None;
    let split = split_bytes();
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        if file.size <= split {
            out.push(file);
            continue;
        }
        if byte_ranges {
            let mut start = 0;
            while start < file.size {
                let end = (start + split).min(file.size);
                out.push(LoadFile {
                    part: Some(FilePart::Bytes { start, end }),
                    ..file.clone()
                });
                start = end;
            }
        } else if spec.format == LoadFormat::Parquet {
            let groups = parquet_row_groups(&file.url, file.size, &spec.store)
                .await
                .map_err(LeaderError::from)?;
            let mut start = 0;
            let mut bytes = 0;
            for (i, size) in groups.iter().enumerate() {
                bytes += size;
                if bytes >= split || i + 1 == groups.len() {
                    out.push(LoadFile {
                        part: Some(FilePart::RowGroups {
                            start,
                            end: i + 1,
                            bytes,
                        }),
                        size: file.size,
                        url: file.url.clone(),
                    });
                    start = i + 1;
                    bytes = 0;
                }
            }
            if groups.is_empty() {
                out.push(file);
            }
        } else {
            out.push(file);
        }
    }
    Ok(out)
}

/// Whether `files` has byte ranges whose records must be checked by
/// [`ranges_line_up`]: text, CSV and JSON ones. An ORC or Avro range holds the
/// stripes or blocks that start in it, which its reader finds by their offsets
/// (ORC) or sync markers (Avro).
pub(super) fn needs_range_check(files: &[LoadFile], format: &LoadFormat) -> bool {
    format.is_text()
        && files
            .iter()
            .any(|f| matches!(f.part, Some(FilePart::Bytes { .. })))
}

/// Whether each byte range of a file (as its slice reported it) started where the
/// range before it stopped: the first record after the range's end. A range that
/// did not read to its end (it stopped at MAXERROR, or never ran) does not line up.
/// When all do, every range started at a record and each record was loaded once.
pub(super) fn ranges_line_up(files: &[LoadFileStats]) -> bool {
    let mut by_file: BTreeMap<&str, Vec<&LoadFileStats>> = BTreeMap::new();
    for file in files.iter().filter(|f| f.partial) {
        by_file.entry(&file.url).or_default().push(file);
    }
    by_file.into_values().all(|mut parts| {
        parts.sort_by_key(|p| p.offset);
        // A manifest may name a file twice: the same range read twice is one range.
        parts.dedup_by(|a, b| {
            (a.offset, a.first_record, a.next_record) == (b.offset, b.first_record, b.next_record)
        });
        parts
            .windows(2)
            .all(|pair| matches!(pair, [p, q] if p.next_record == Some(q.first_record)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(offset: u64, first_record: u64, next_record: Option<u64>) -> LoadFileStats {
        LoadFileStats {
            url: "s3://b/f.csv".into(),
            partial: true,
            offset,
            first_record,
            next_record,
            ..LoadFileStats::default()
        }
    }

    #[test]
    fn ranges_line_up_only_when_each_starts_where_the_last_stopped() {
        let whole = LoadFileStats {
            url: "s3://b/g.csv".into(),
            ..LoadFileStats::default()
        };
        // Out of order as reported; each starts where the one before stopped.
        let good = [
            part(200, 230, Some(300)),
            whole.clone(),
            part(0, 0, Some(120)),
            part(100, 120, Some(230)),
        ];
        assert!(ranges_line_up(&good));
        // The second range guessed a line end inside a record (at 110).
        let bad = [part(0, 0, Some(120)), part(100, 110, Some(230))];
        assert!(!ranges_line_up(&bad));
        // The first range stopped early: nothing says where the second should start.
        let stopped = [part(0, 0, None), part(100, 120, Some(230))];
        assert!(!ranges_line_up(&stopped));
        assert!(ranges_line_up(&[whole]));
        // A file named twice (in a manifest) is read twice, range by range.
        let twice = [
            part(0, 0, Some(120)),
            part(100, 120, Some(230)),
            part(0, 0, Some(120)),
            part(100, 120, Some(230)),
        ];
        assert!(ranges_line_up(&twice));
    }
}
