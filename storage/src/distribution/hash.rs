//! The hash that places a DISTKEY value on a slice ([`DistHash`]): a format, defined
//! byte by byte below and pinned by golden vectors (`hash_tests.rs`), because rows
//! placed by it stay where it put them for as long as the table exists.
//! docs/design/0001-distkey-hash.md gives the reasons behind each rule.
//!
//! A row goes to slice `hash % slice_count` (as unsigned 64-bit integers), where
//! `hash` is its DISTKEY value's hash under the table's [`DistHash`].
//!
//! # `CanonicalV1`
//!
//! `hash` is FNV-1a 64 (offset basis `0xcbf2_9ce4_8422_2325`, prime
//! `0x0000_0100_0000_01b3`; for each byte: xor it in, then multiply, wrapping) over
//! the value's canonical bytes. There is no type tag, no length prefix and no
//! terminator: a hash covers one value.
//!
//! | Arrow type | canonical bytes |
//! |---|---|
//! | NULL of any type (and every row of `Null`) | the one byte `0xFF` (hash `0xaf64_724c_8602_eb6e`: slice 2 of 4, slice 4 of 6) |
//! | `Int8`, `Int16`, `Int32`, `Int64`, `UInt8`, `UInt16`, `UInt32` | the value as an `i64` (sign- or zero-extended), 8 bytes little-endian |
//! | `UInt64` | the value, 8 bytes little-endian (the same bytes as the `i64` encoding whenever the value fits an `i64`) |
//! | `Boolean` | one byte: `0x00` false, `0x01` true |
//! | `Float32`, `Float64` | the value as an `f64` (`Float32` widened, exactly) with `-0.0` replaced by `+0.0` and every NaN by `0x7FF8_0000_0000_0000`; its bits, 8 bytes little-endian |
//! | `Decimal32`, `Decimal64`, `Decimal128` `(p, s)` | the unscaled value `v` and scale `s`, normalised: `v = 0` becomes `(0, 0)`; otherwise, while `v` is a multiple of 10, `v /= 10` and `s -= 1` (so `s` may become negative). Then `v` as an `i128`, 16 bytes little-endian, followed by `s` as an `i32`, 4 bytes little-endian (20 bytes) |
//! | `Utf8`, `LargeUtf8`, `Utf8View` | the UTF-8 bytes (none for the empty string) |
//! | `Date32` | days since 1970-01-01 as an `i64`, 8 bytes little-endian |
//! | `Date64` | milliseconds since the epoch divided by 86 400 000, rounding down (`div_euclid`), as an `i64`, 8 bytes little-endian |
//! | `Timestamp(unit, zone)` | microseconds since the epoch as an `i64`, 8 bytes little-endian: seconds times 1 000 000 and milliseconds times 1 000 (both wrapping on overflow), nanoseconds divided by 1 000 rounding down (`div_euclid`). The zone annotation is not part of the bytes |
//!
//! Equal values of one family hash equally: SMALLINT, INT and BIGINT; every
//! DECIMAL(p, s) (1.50 and 1.5); REAL and DOUBLE PRECISION; every string kind; DATE
//! however stored; TIMESTAMP in any unit. Different families are not made to agree
//! (an INT 1 and a DECIMAL 1 hash differently) and may collide (an INT 1 and the
//! DATE 1970-01-02 have the same bytes): only keys of one family are collocated. NULL's
//! byte is the encoding of no value (`0xFF` never occurs in UTF-8). Any other type
//! is refused with [`StorageError::Distribution`].
//!
//! # `RowFormatV0`
//!
//! FNV-1a 64 over the bytes of the value's row in Arrow's row format
//! (`arrow::row::RowConverter` with one ascending, nulls-first `SortField`), as
//! arrow 59.3 encodes it. Arrow does not promise that encoding between releases, and
//! it differs between integer widths (an INT 7 and a BIGINT 7 can land on different
//! slices). Kept only for tables placed with it before `CanonicalV1` existed.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal32Type, Decimal64Type, Decimal128Type, Float32Type,
    Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow::row::{RowConverter, SortField};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StorageError};

/// Which hash places a table's DISTKEY rows on slices. Recorded in the table's
/// catalog record; two KEY tables are collocated only when they use the same one.
/// The names are part of the catalog format (serialized as `"RowFormatV0"` and
/// `"CanonicalV1"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DistHash {
    /// FNV-1a 64 over Arrow's row format: what tables made before `CanonicalV1`
    /// were placed with. Not stable across arrow releases.
    RowFormatV0,
    /// FNV-1a 64 over the canonical encoding of the value (see the module docs).
    CanonicalV1,
}

impl DistHash {
    /// Whether this hash places values of `data_type` (so it can be a DISTKEY's type).
    pub fn supports(self, data_type: &arrow::datatypes::DataType) -> bool {
        self.hash_column(&arrow::array::new_empty_array(data_type))
            .is_ok()
    }

    /// The number a fragment carries for this hash (`ExchangeDelivery.dist_hash`).
    pub fn to_wire(self) -> u32 {
        match self {
            DistHash::RowFormatV0 => 0,
            DistHash::CanonicalV1 => 1,
        }
    }

    /// The hash a fragment's number names, if any.
    pub fn from_wire(number: u32) -> Option<DistHash> {
        match number {
            0 => Some(DistHash::RowFormatV0),
            1 => Some(DistHash::CanonicalV1),
            _ => None,
        }
    }

    /// Each row's hash of `column` (a batch's DISTKEY values), in row order. Fails
    /// with [`StorageError::Distribution`], naming the type, for a type the hash does
    /// not define.
    pub(crate) fn hash_column(self, column: &ArrayRef) -> Result<Vec<u64>> {
        match self {
            DistHash::RowFormatV0 => row_format_v0(column),
            DistHash::CanonicalV1 => canonical_v1(column.as_ref()),
        }
    }
}

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 of `bytes`.
pub(crate) const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = FNV_OFFSET_BASIS;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    hash
}

/// The hash of NULL under `CanonicalV1`: the byte `0xFF`.
pub(crate) const NULL_HASH: u64 = fnv1a(&[0xFF]);

const FALSE_HASH: u64 = fnv1a(&[0x00]);
const TRUE_HASH: u64 = fnv1a(&[0x01]);

/// The bits every NaN is hashed as.
const CANONICAL_NAN: u64 = 0x7FF8_0000_0000_0000;

fn row_format_v0(column: &ArrayRef) -> Result<Vec<u64>> {
    let converter = RowConverter::new(vec![SortField::new(column.data_type().clone())])
        .map_err(|e| StorageError::Distribution(e.to_string()))?;
    let rows = converter
        .convert_columns(&[Arc::clone(column)])
        .map_err(|e| StorageError::Distribution(e.to_string()))?;
    Ok((0..rows.num_rows())
        .map(|i| fnv1a(rows.row(i).as_ref()))
        .collect())
}

/// An 8-byte encoding's hash.
fn hash_u64(value: u64) -> u64 {
    fnv1a(&value.to_le_bytes())
}

fn hash_i64(value: i64) -> u64 {
    fnv1a(&value.to_le_bytes())
}

fn hash_f64(value: f64) -> u64 {
    let bits = if value.is_nan() {
        CANONICAL_NAN
    } else if value == 0.0 {
        // -0.0 == 0.0
        0
    } else {
        value.to_bits()
    };
    hash_u64(bits)
}

/// A decimal's hash: `unscaled * 10^-scale`, normalised (see the module docs).
fn hash_decimal(unscaled: i128, scale: i8) -> u64 {
    let (value, scale) = normalise_decimal(unscaled, i32::from(scale));
    let mut bytes = [0u8; 20];
    bytes[..16].copy_from_slice(&value.to_le_bytes());
    bytes[16..].copy_from_slice(&scale.to_le_bytes());
    fnv1a(&bytes)
}

/// `(value, scale)` with the trailing decimal zeros of `value` removed (and zero as
/// `(0, 0)`).
fn normalise_decimal(value: i128, mut scale: i32) -> (i128, i32) {
    if value == 0 {
        return (0, 0);
    }
    // Most values fit 64 bits, where division is far cheaper; the result is the same.
    if let Ok(mut small) = i64::try_from(value) {
        while small % 10 == 0 {
            small /= 10;
            scale -= 1;
        }
        return (i128::from(small), scale);
    }
    let mut value = value;
    while value % 10 == 0 {
        value /= 10;
        scale -= 1;
    }
    (value, scale)
}

/// The hashes of a primitive column: `hash` of each value, [`NULL_HASH`] for NULLs.
/// The column is downcast once; the loop runs over its values buffer.
fn hash_primitive<T: ArrowPrimitiveType>(
    column: &dyn Array,
    hash: impl Fn(T::Native) -> u64,
) -> Result<Vec<u64>> {
    let array = column
        .as_primitive_opt::<T>()
        .ok_or_else(|| mismatch(column.data_type()))?;
    let values = array.values().iter().copied();
    Ok(match nulls_of(array.nulls()) {
        None => values.map(hash).collect(),
        Some(nulls) => values
            .zip(nulls.iter())
            .map(|(v, valid)| if valid { hash(v) } else { NULL_HASH })
            .collect(),
    })
}

/// The hashes of a column of byte strings given as an iterator of values.
fn hash_bytes<'a>(values: impl Iterator<Item = Option<&'a [u8]>>) -> Vec<u64> {
    values.map(|v| v.map_or(NULL_HASH, fnv1a)).collect()
}

fn nulls_of(nulls: Option<&NullBuffer>) -> Option<&NullBuffer> {
    nulls.filter(|n| n.null_count() > 0)
}

fn mismatch(data_type: &DataType) -> StorageError {
    StorageError::Distribution(format!(
        "DISTKEY column of type {data_type} does not hold {data_type} values"
    ))
}

fn canonical_v1(column: &dyn Array) -> Result<Vec<u64>> {
    let data_type = column.data_type();
    match data_type {
        DataType::Null => Ok(vec![NULL_HASH; column.len()]),
        DataType::Int8 => hash_primitive::<Int8Type>(column, |v| hash_i64(i64::from(v))),
        DataType::Int16 => hash_primitive::<Int16Type>(column, |v| hash_i64(i64::from(v))),
        DataType::Int32 => hash_primitive::<Int32Type>(column, |v| hash_i64(i64::from(v))),
        DataType::Int64 => hash_primitive::<Int64Type>(column, hash_i64),
        DataType::UInt8 => hash_primitive::<UInt8Type>(column, |v| hash_u64(u64::from(v))),
        DataType::UInt16 => hash_primitive::<UInt16Type>(column, |v| hash_u64(u64::from(v))),
        DataType::UInt32 => hash_primitive::<UInt32Type>(column, |v| hash_u64(u64::from(v))),
        DataType::UInt64 => hash_primitive::<UInt64Type>(column, hash_u64),
        DataType::Float32 => hash_primitive::<Float32Type>(column, |v| hash_f64(f64::from(v))),
        DataType::Float64 => hash_primitive::<Float64Type>(column, hash_f64),
        DataType::Decimal32(_, scale) => {
            hash_primitive::<Decimal32Type>(column, |v| hash_decimal(i128::from(v), *scale))
        }
        DataType::Decimal64(_, scale) => {
            hash_primitive::<Decimal64Type>(column, |v| hash_decimal(i128::from(v), *scale))
        }
        DataType::Decimal128(_, scale) => {
            hash_primitive::<Decimal128Type>(column, |v| hash_decimal(v, *scale))
        }
        DataType::Date32 => hash_primitive::<Date32Type>(column, |v| hash_i64(i64::from(v))),
        DataType::Date64 => {
            hash_primitive::<Date64Type>(column, |v| hash_i64(v.div_euclid(86_400_000)))
        }
        DataType::Timestamp(TimeUnit::Second, _) => {
            hash_primitive::<TimestampSecondType>(column, |v| hash_i64(v.wrapping_mul(1_000_000)))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            hash_primitive::<TimestampMillisecondType>(column, |v| hash_i64(v.wrapping_mul(1_000)))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            hash_primitive::<TimestampMicrosecondType>(column, hash_i64)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            hash_primitive::<TimestampNanosecondType>(column, |v| hash_i64(v.div_euclid(1_000)))
        }
        DataType::Boolean => {
            let array = column.as_boolean_opt().ok_or_else(|| mismatch(data_type))?;
            let hash = |v: bool| if v { TRUE_HASH } else { FALSE_HASH };
            let values = array.values().iter();
            Ok(match nulls_of(array.nulls()) {
                None => values.map(hash).collect(),
                Some(nulls) => values
                    .zip(nulls.iter())
                    .map(|(v, valid)| if valid { hash(v) } else { NULL_HASH })
                    .collect(),
            })
        }
        DataType::Utf8 => {
            let array = column
                .as_string_opt::<i32>()
                .ok_or_else(|| mismatch(data_type))?;
            Ok(hash_bytes(array.iter().map(|v| v.map(str::as_bytes))))
        }
        DataType::LargeUtf8 => {
            let array = column
                .as_string_opt::<i64>()
                .ok_or_else(|| mismatch(data_type))?;
            Ok(hash_bytes(array.iter().map(|v| v.map(str::as_bytes))))
        }
        DataType::Utf8View => {
            let array = column
                .as_string_view_opt()
                .ok_or_else(|| mismatch(data_type))?;
            Ok(hash_bytes(array.iter().map(|v| v.map(str::as_bytes))))
        }
        other => Err(StorageError::Distribution(format!(
            "a DISTKEY of type {other} has no CanonicalV1 hash"
        ))),
    }
}

#[cfg(test)]
#[path = "hash_tests.rs"]
mod tests;
