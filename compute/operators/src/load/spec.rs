//! [`LoadSpec`]: everything a compute node needs to run its part of a COPY.

use arrow::datatypes::DataType;
use serde::{Deserialize, Serialize};

pub use blueshift_storage::objects::StoreConfig;

/// The input format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LoadFormat {
    /// Delimited text (the default): `|`, backslash escapes with ESCAPE.
    Text,
    /// CSV with a quote character.
    Csv {
        quote: char,
    },
    /// One JSON object per record.
    Json(JsonPaths),
    Parquet,
    /// ORC: columns in order, like Parquet.
    Orc,
    /// Avro: fields by name (`'auto'`, `'auto ignorecase'`) or by JSONPaths.
    Avro(JsonPaths),
}

impl LoadFormat {
    /// Whether files are read as records of text (text, CSV, JSON), rather than by
    /// a columnar (Parquet, ORC) or Avro reader.
    pub fn is_text(&self) -> bool {
        matches!(
            self,
            LoadFormat::Text | LoadFormat::Csv { .. } | LoadFormat::Json(_)
        )
    }

    /// The format's name, for messages and STL_LOAD_COMMITS.file_format.
    pub fn name(&self) -> &'static str {
        match self {
            LoadFormat::Text => "Text",
            LoadFormat::Csv { .. } => "CSV",
            LoadFormat::Json(_) => "JSON",
            LoadFormat::Parquet => "Parquet",
            LoadFormat::Orc => "ORC",
            LoadFormat::Avro(_) => "Avro",
        }
    }
}

/// How JSON fields map to columns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum JsonPaths {
    /// Keys named as the columns (`'auto'`), or in any case (`'auto ignorecase'`).
    Auto { ignore_case: bool },
    /// One JSONPath expression per column, in order, each a list of steps.
    Paths(Vec<Vec<JsonStep>>),
}

/// One step of a JSONPath expression.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum JsonStep {
    Key(String),
    Index(usize),
}

/// Input compression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Bzip2,
    Zstd,
}

/// Data conversion options (Redshift's names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadOptions {
    pub delimiter: char,
    /// Lines skipped at the start of each file.
    pub ignore_header: u64,
    pub null_as: String,
    pub empty_as_null: bool,
    pub blanks_as_null: bool,
    pub truncate_columns: bool,
    /// Replaces each byte of an invalid UTF-8 sequence.
    pub accept_inv_chars: Option<char>,
    pub remove_quotes: bool,
    pub escape: bool,
    pub fill_record: bool,
    pub trim_blanks: bool,
    /// DATEFORMAT: `None` is the default, `YYYY-MM-DD`.
    pub date_format: Option<String>,
    /// TIMEFORMAT: `None` is the default, `YYYY-MM-DD HH:MI:SS`.
    pub time_format: Option<String>,
    pub max_error: u64,
    /// NOLOAD: check the data, load nothing.
    pub no_load: bool,
    /// PostgreSQL's text format (COPY FROM STDIN): with ESCAPE, `\n`, `\t`, `\r`,
    /// `\b`, `\f` and `\v` are control characters, and a `\.` line ends the data.
    #[serde(default)]
    pub postgres_text: bool,
    /// EXPLICIT_IDS: the data holds the values of the table's IDENTITY columns.
    #[serde(default)]
    pub explicit_ids: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            delimiter: '|',
            ignore_header: 0,
            null_as: "\\N".into(),
            empty_as_null: false,
            blanks_as_null: false,
            truncate_columns: false,
            accept_inv_chars: None,
            remove_quotes: false,
            escape: false,
            fill_record: false,
            trim_blanks: false,
            date_format: None,
            time_format: None,
            max_error: 0,
            no_load: false,
            postgres_text: false,
            explicit_ids: false,
        }
    }
}

/// One column of the target table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadColumn {
    pub name: String,
    pub data_type: DataType,
    pub nullable: bool,
    /// The declared length of CHAR/VARCHAR columns, in bytes.
    pub max_bytes: Option<usize>,
    /// The field of each input record that fills this column; `None` for columns
    /// left out of the COPY's column list, which take `default`.
    pub input: Option<usize>,
    /// The column's DEFAULT, as text.
    pub default: Option<String>,
}

/// A file to load (a key under the prefix, or a manifest entry).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadFile {
    /// `s3://bucket/key` or `file:///path`.
    pub url: String,
    pub size: u64,
    /// Part of a large file: the records (text), ORC stripes or Avro blocks that
    /// start in these bytes, or these row groups (Parquet), `start..end`.
    #[serde(default)]
    pub part: Option<FilePart>,
}

/// A part of a file loaded by one slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilePart {
    Bytes {
        start: u64,
        end: u64,
    },
    RowGroups {
        start: usize,
        end: usize,
        bytes: u64,
    },
}

impl LoadFile {
    /// A whole file.
    pub fn whole(url: String, size: u64) -> Self {
        LoadFile {
            url,
            size,
            part: None,
        }
    }

    /// Where the part starts: a byte offset, or the first row group.
    pub fn offset(&self) -> u64 {
        match self.part {
            Some(FilePart::Bytes { start, .. }) => start,
            Some(FilePart::RowGroups { start, .. }) => start as u64,
            None => 0,
        }
    }

    /// The bytes this part stands for, to balance slices.
    pub fn weight(&self) -> u64 {
        match self.part {
            Some(FilePart::Bytes { start, end }) => end - start,
            Some(FilePart::RowGroups { bytes, .. }) => bytes,
            None => self.size,
        }
    }
}

/// The files one slice loads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadPartition {
    pub slice: u32,
    pub files: Vec<LoadFile>,
}

/// One COPY's work, as shipped to compute nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadSpec {
    pub table_id: u64,
    pub table_name: String,
    /// Every column of the table, in table order.
    pub columns: Vec<LoadColumn>,
    /// Fields per input record (the column list's length).
    pub input_fields: usize,
    pub format: LoadFormat,
    pub compression: Compression,
    pub options: LoadOptions,
    pub store: StoreConfig,
    pub partitions: Vec<LoadPartition>,
}
