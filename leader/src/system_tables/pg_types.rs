//! Column types as PostgreSQL's catalog describes them: the type oid, the type
//! modifier (`atttypmod`: the length of `varchar(20)`, the precision and scale of
//! `numeric(10,2)`) and the name `format_type` gives (`character varying(20)`),
//! from the type a column was declared with, or from its Arrow type where none was
//! declared (a view's columns, a CTAS's).

use arrow::datatypes::DataType;
use blueshift_storage::catalog::ViewDef;

/// A column's type in PostgreSQL's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgType {
    pub oid: i32,
    /// `atttypmod`: -1 when the type has none.
    pub typmod: i32,
    /// `format_type(oid, typmod)`.
    pub name: String,
    /// `attlen`: the fixed size in bytes, -1 for variable length.
    pub len: i16,
}

fn fixed(oid: i32, name: &str, len: i16) -> PgType {
    PgType {
        oid,
        typmod: -1,
        name: name.to_string(),
        len,
    }
}

fn sized(oid: i32, base: &str, chars: i32) -> PgType {
    PgType {
        oid,
        typmod: chars + 4,
        name: format!("{base}({chars})"),
        len: -1,
    }
}

fn numeric(precision: i32, scale: i32) -> PgType {
    PgType {
        oid: 1700,
        typmod: ((precision << 16) | scale) + 4,
        name: format!("numeric({precision},{scale})"),
        len: -1,
    }
}

/// The type of a column declared as `declared` (sqlparser's text, any case),
/// holding `arrow` values.
pub fn pg_type(declared: &str, arrow: &DataType) -> PgType {
    let t = declared.trim().to_ascii_lowercase();
    let (base, args) = match t.split_once('(') {
        Some((b, a)) => (b.trim(), Some(a.trim_end_matches(')').trim())),
        None => (t.as_str(), None),
    };
    let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
    let length = |default: i32| match args {
        Some("max") => 65535,
        Some(a) => a.parse().unwrap_or(default),
        None => default,
    };
    match base.as_str() {
        "varchar" | "character varying" | "nvarchar" | "text" => {
            sized(1043, "character varying", length(256))
        }
        "char" | "character" | "nchar" | "bpchar" => sized(1042, "character", length(1)),
        "decimal" | "numeric" | "dec" => {
            let mut parts = args.unwrap_or("18,0").split(',').map(|p| p.trim().parse());
            let precision = parts.next().and_then(Result::ok).unwrap_or(18);
            let scale = parts.next().and_then(Result::ok).unwrap_or(0);
            numeric(precision, scale)
        }
        "smallint" | "int2" => fixed(21, "smallint", 2),
        "int" | "integer" | "int4" => fixed(23, "integer", 4),
        "bigint" | "int8" => fixed(20, "bigint", 8),
        "real" | "float4" => fixed(700, "real", 4),
        "double precision" | "float8" | "float" => fixed(701, "double precision", 8),
        "bool" | "boolean" => fixed(16, "boolean", 1),
        "date" => fixed(1082, "date", 4),
        "timestamp" | "timestamp without time zone" => {
            fixed(1114, "timestamp without time zone", 8)
        }
        "timestamptz" | "timestamp with time zone" => fixed(1184, "timestamp with time zone", 8),
        "time" | "time without time zone" => fixed(1083, "time without time zone", 8),
        "timetz" | "time with time zone" => fixed(1266, "time with time zone", 12),
        _ => from_arrow(arrow),
    }
}

/// The type of a column that was not declared, from its values' Arrow type.
pub fn from_arrow(arrow: &DataType) -> PgType {
    match arrow {
        DataType::Boolean => fixed(16, "boolean", 1),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => fixed(21, "smallint", 2),
        DataType::Int32 | DataType::UInt16 => fixed(23, "integer", 4),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => fixed(20, "bigint", 8),
        DataType::Float16 | DataType::Float32 => fixed(700, "real", 4),
        DataType::Float64 => fixed(701, "double precision", 8),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            numeric(i32::from(*p), i32::from(*s))
        }
        DataType::Date32 | DataType::Date64 => fixed(1082, "date", 4),
        DataType::Timestamp(_, None) => fixed(1114, "timestamp without time zone", 8),
        DataType::Timestamp(_, Some(_)) => fixed(1184, "timestamp with time zone", 8),
        DataType::Time32(_) | DataType::Time64(_) => fixed(1083, "time without time zone", 8),
        DataType::Interval(_) => fixed(1186, "interval", 16),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => fixed(17, "bytea", -1),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            fixed(1043, "character varying", -1)
        }
        _ => fixed(25, "text", -1),
    }
}

/// What `pg_get_viewdef` shows: a regular view's query; the whole statement of a
/// late-binding or materialized view, as Redshift shows it.
pub fn view_definition(v: &ViewDef) -> String {
    let columns = if v.column_names.is_empty() {
        String::new()
    } else {
        format!(" ({})", v.column_names.join(", "))
    };
    if v.materialized.is_some() {
        format!(
            "create materialized view {}{columns} as {};",
            v.qualified_name(),
            v.query
        )
    } else if v.late_binding {
        format!(
            "create view {}{columns} as {} with no schema binding;",
            v.qualified_name(),
            v.query
        )
    } else {
        format!(" {};", v.query)
    }
}

/// The first oid of a table or view; Redshift's user relations have oids from here.
const FIRST_RELATION_OID: u64 = 100_000;

/// The oid of the table or view with catalog id `id`: `pg_class.oid`, and the table id
/// of SVV_TABLE_INFO, STV_TBL_PERM, STV_BLOCKLIST, STL_SCAN and STL_LOAD_ERRORS.
pub fn relation_oid(id: u64) -> i32 {
    i32::try_from(FIRST_RELATION_OID + id).unwrap_or(i32::MAX)
}

/// The catalog id of the table or view whose oid is `oid`.
pub fn relation_id(oid: i64) -> Option<u64> {
    u64::try_from(oid).ok()?.checked_sub(FIRST_RELATION_OID)
}

/// The oid of schema `name` (`pg_namespace.oid`): PostgreSQL's for `pg_catalog`
/// (11), `public` (2200) and `information_schema`; for another schema a hash of its
/// name, the same on every leader and across restarts.
pub fn namespace_oid(name: &str) -> i32 {
    match name {
        "pg_catalog" => 11,
        "public" => 2200,
        "information_schema" => 13_183,
        _ => {
            // FNV-1a, folded into [1_000_000, 1_000_000_000).
            let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            1_000_000 + (hash % 999_000_000) as i32
        }
    }
}

/// Redshift's column encodings by their `pg_attribute.attencodingtype` number, which
/// `format_encoding` turns back into the name (0: none, that is RAW).
pub const ENCODING_NUMBERS: &[(i16, &str)] = &[
    (0, "none"),
    (1, "bytedict"),
    (2, "delta"),
    (3, "delta32k"),
    (4, "lzo"),
    (5, "mostly8"),
    (6, "mostly16"),
    (7, "mostly32"),
    (8, "runlength"),
    (9, "text255"),
    (10, "text32k"),
    (11, "zstd"),
    (12, "az64"),
    (13, "raw"),
    (14, "auto"),
];

/// The `attencodingtype` of a column declared with `encoding` (None: AUTO).
pub fn encoding_number(encoding: Option<&str>) -> i16 {
    let name = encoding.unwrap_or("auto");
    ENCODING_NUMBERS
        .iter()
        .find(|(_, n)| *n == name)
        .map_or(0, |(k, _)| *k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_keep_their_modifiers() {
        let v = pg_type("VARCHAR(20)", &DataType::Utf8);
        assert_eq!(
            (v.oid, v.typmod, v.name.as_str()),
            (1043, 24, "character varying(20)")
        );
        let n = pg_type("decimal(10,2)", &DataType::Decimal128(10, 2));
        assert_eq!((n.oid, n.name.as_str()), (1700, "numeric(10,2)"));
        assert_eq!(n.typmod, (10 << 16 | 2) + 4);
        assert_eq!(pg_type("char(3)", &DataType::Utf8).name, "character(3)");
        assert_eq!(pg_type("int", &DataType::Int32).name, "integer");
        assert_eq!(
            pg_type("text", &DataType::Utf8).name,
            "character varying(256)"
        );
        assert_eq!(pg_type("", &DataType::Float64).name, "double precision");
        assert_eq!(encoding_number(Some("zstd")), 11);
    }
}
