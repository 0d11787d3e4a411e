//! What a column's declared type says beyond its Arrow type: a CHAR/VARCHAR's
//! length in bytes, which INSERT, UPDATE and COPY hold values to.

use super::ColumnDef;

impl ColumnDef {
    /// The most bytes a value of this CHAR or VARCHAR column holds (`varchar(20)`:
    /// 20; Redshift's defaults: VARCHAR 256, CHAR 1; `varchar(max)` 65535); None
    /// for other types.
    pub fn max_bytes(&self) -> Option<usize> {
        declared_bytes(&self.declared_type)
    }
}

/// The byte length a declared CHAR/VARCHAR type allows ([`ColumnDef::max_bytes`]).
pub fn declared_bytes(declared: &str) -> Option<usize> {
    let t = declared.trim().to_ascii_lowercase();
    let (base, args) = match t.split_once('(') {
        Some((b, a)) => (
            b.trim().to_string(),
            Some(a.trim_end_matches(')').trim().to_string()),
        ),
        None => (t.clone(), None),
    };
    let varying = matches!(
        base.as_str(),
        "varchar" | "character varying" | "nvarchar" | "text"
    );
    let fixed = matches!(base.as_str(), "char" | "character" | "nchar" | "bpchar");
    if !(varying || fixed) {
        return None;
    }
    match args {
        Some(a) if a == "max" => Some(65535),
        Some(a) => a.parse().ok(),
        None if varying => Some(256),
        None => Some(1),
    }
}
