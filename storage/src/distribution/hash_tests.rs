//! Golden vectors of the DISTKEY hashes. Every value here is a promise to stored
//! data: a change that moves one of them moves rows of existing tables to other
//! slices. Do not edit a value to make a test pass; define a new [`DistHash`].
//!
//! The `CanonicalV1` values were computed from the byte-by-byte definition (in the
//! module docs and docs/design/0001-distkey-hash.md) by an implementation written
//! separately from this one, not by running this code.

use std::sync::Arc;

use super::*;
use crate::distribution::slice_of;
use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Date64Array, Decimal32Array, Decimal64Array,
    Decimal128Array, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array,
    LargeStringArray, NullArray, StringArray, StringViewArray, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt8Array,
    UInt16Array, UInt32Array, UInt64Array,
};

/// `(hash, slice of 4, slice of 6)` for one value.
type Golden = (u64, u32, u32);

const NULL: Golden = (0xaf64_724c_8602_eb6e, 2, 4);
const INT_0: Golden = (0xa8c7_f832_281a_39c5, 1, 1);
const INT_1: Golden = (0x89cd_3129_1d2a_efa4, 0, 0);
const INT_MINUS_1: Golden = (0x8cf5_1a8b_fca3_883d, 1, 1);
const INT_7: Golden = (0x4bd7_a317_074c_5b62, 2, 4);
const INT_I32_MAX: Golden = (0xf749_1847_a411_c161, 1, 1);
const INT_I64_MIN: Golden = (0xa8c7_7832_2819_6045, 1, 5);
const INT_I64_MAX: Golden = (0x8cf5_9a8b_fca4_61bd, 1, 3);
const INT_U32_MAX: Golden = (0x4eba_ad86_4bc6_f2e1, 1, 3);
const FALSE: Golden = (0xaf63_bd4c_8601_b7df, 3, 3);
const TRUE: Golden = (0xaf63_bc4c_8601_b62c, 0, 2);
const FLOAT_1_5: Golden = (0xaa95_e932_29a2_7c80, 0, 4);
const FLOAT_NAN: Golden = (0xaa96_2932_29a2_e940, 0, 2);
const FLOAT_INF: Golden = (0xaab1_2932_29b9_b0f8, 0, 2);
const DOUBLE_0_1: Golden = (0x4fa0_9cc0_eec3_10c4, 0, 2);
const REAL_0_1: Golden = (0x9e63_ad81_f172_2a7f, 3, 3);
const DECIMAL_1_5: Golden = (0xf960_5270_5496_21db, 3, 5);
const DECIMAL_0: Golden = (0xee85_fafd_354b_0935, 1, 5);
const DECIMAL_MINUS_1_5: Golden = (0xd425_314b_0bd6_027a, 2, 2);
const DECIMAL_100: Golden = (0xf87d_eb09_03a5_7251, 1, 5);
const DECIMAL_1: Golden = (0x0c59_3f1b_0d13_9064, 0, 2);
/// 999...9.99 (38 digits).
const DECIMAL_38_NINES: Golden = (0x328e_df28_4f5f_b5e3, 3, 5);
/// 10^35, written as 10^37 at scale 2.
const DECIMAL_1E35: Golden = (0xf57f_ec0e_a260_0ac2, 2, 4);
const STR_EMPTY: Golden = (0xcbf2_9ce4_8422_2325, 1, 5);
const STR_ABC: Golden = (0xe71f_a219_0541_574b, 3, 3);
const STR_NIHONGO: Golden = (0xee9e_e2b5_c854_ef87, 3, 3);
const STR_E_ACUTE: Golden = (0x0ac2_1707_b718_1e01, 1, 1);
const DATE_19000: Golden = (0xfc41_c293_46a2_231f, 3, 5);
const TS_1700000000123456: Golden = (0x7198_4b1c_3f0b_8067, 3, 1);
const TS_1700000000_S: Golden = (0xbafe_bb4f_81e4_2c33, 3, 3);
const TS_1700000000123_MS: Golden = (0x3119_aaac_c39a_d425, 1, 3);

fn goldens(hash: DistHash, column: ArrayRef) -> Result<Vec<Golden>> {
    Ok(hash
        .hash_column(&column)?
        .into_iter()
        .map(|h| (h, slice_of(h, 4), slice_of(h, 6)))
        .collect())
}

fn v1(column: ArrayRef) -> Result<Vec<Golden>> {
    goldens(DistHash::CanonicalV1, column)
}

#[test]
fn canonical_v1_golden_vectors_integers() -> Result<()> {
    let int64 = Int64Array::from(vec![
        Some(0),
        Some(1),
        Some(-1),
        Some(7),
        Some(i64::MIN),
        Some(i64::MAX),
        None,
    ]);
    assert_eq!(
        v1(Arc::new(int64))?,
        [
            INT_0,
            INT_1,
            INT_MINUS_1,
            INT_7,
            INT_I64_MIN,
            INT_I64_MAX,
            NULL
        ]
    );
    let int32 = Int32Array::from(vec![Some(0), Some(7), Some(i32::MAX), Some(-1), None]);
    assert_eq!(
        v1(Arc::new(int32))?,
        [INT_0, INT_7, INT_I32_MAX, INT_MINUS_1, NULL]
    );
    let int16 = Int16Array::from(vec![Some(7), Some(-1), None]);
    assert_eq!(v1(Arc::new(int16))?, [INT_7, INT_MINUS_1, NULL]);
    assert_eq!(
        v1(Arc::new(Int8Array::from(vec![-1, 1])))?,
        [INT_MINUS_1, INT_1]
    );
    assert_eq!(v1(Arc::new(UInt8Array::from(vec![7])))?, [INT_7]);
    assert_eq!(v1(Arc::new(UInt16Array::from(vec![1])))?, [INT_1]);
    assert_eq!(
        v1(Arc::new(UInt32Array::from(vec![u32::MAX])))?,
        [INT_U32_MAX]
    );
    // u64::MAX has the bytes of -1: a collision between unequal values, allowed.
    let uint64 = UInt64Array::from(vec![7, u64::MAX]);
    assert_eq!(v1(Arc::new(uint64))?, [INT_7, INT_MINUS_1]);
    Ok(())
}

#[test]
fn canonical_v1_golden_vectors_booleans_and_floats() -> Result<()> {
    let booleans = BooleanArray::from(vec![Some(false), Some(true), None]);
    assert_eq!(v1(Arc::new(booleans))?, [FALSE, TRUE, NULL]);
    let doubles = Float64Array::from(vec![
        Some(0.0),
        Some(-0.0),
        Some(1.5),
        Some(f64::NAN),
        Some(-f64::NAN),
        Some(f64::from_bits(0x7ff0_0000_0000_0001)),
        Some(f64::INFINITY),
        Some(0.1),
        None,
    ]);
    // 0.0 and -0.0 hash as the 8 zero bytes, like the integer 0.
    assert_eq!(
        v1(Arc::new(doubles))?,
        [
            INT_0, INT_0, FLOAT_1_5, FLOAT_NAN, FLOAT_NAN, FLOAT_NAN, FLOAT_INF, DOUBLE_0_1, NULL
        ]
    );
    let reals = Float32Array::from(vec![Some(1.5), Some(-0.0), Some(f32::NAN), Some(0.1), None]);
    assert_eq!(
        v1(Arc::new(reals))?,
        [FLOAT_1_5, INT_0, FLOAT_NAN, REAL_0_1, NULL]
    );
    Ok(())
}

fn decimal128(values: Vec<Option<i128>>, precision: u8, scale: i8) -> Result<ArrayRef> {
    Ok(Arc::new(
        Decimal128Array::from(values)
            .with_precision_and_scale(precision, scale)
            .map_err(|e| StorageError::Distribution(e.to_string()))?,
    ))
}

#[test]
fn canonical_v1_golden_vectors_decimals() -> Result<()> {
    // 1.50, 0.00, -1.50 and NULL as DECIMAL(5,2); 1.5 and 0.0 as DECIMAL(4,1).
    let two_places = decimal128(vec![Some(150), Some(0), Some(-150), None], 5, 2)?;
    assert_eq!(
        v1(two_places)?,
        [DECIMAL_1_5, DECIMAL_0, DECIMAL_MINUS_1_5, NULL]
    );
    let one_place = decimal128(vec![Some(15), Some(0)], 4, 1)?;
    assert_eq!(v1(one_place)?, [DECIMAL_1_5, DECIMAL_0]);
    // An integer-valued decimal hashes as a decimal, not as the integer.
    let whole = decimal128(vec![Some(100), Some(1)], 38, 0)?;
    assert_eq!(v1(whole)?, [DECIMAL_100, DECIMAL_1]);
    assert_ne!(DECIMAL_1, INT_1);
    // Beyond 64 bits.
    let wide = decimal128(vec![Some(10i128.pow(38) - 1), Some(10i128.pow(37))], 38, 2)?;
    assert_eq!(v1(wide)?, [DECIMAL_38_NINES, DECIMAL_1E35]);
    let narrow: ArrayRef = Arc::new(
        Decimal64Array::from(vec![150, -150])
            .with_precision_and_scale(10, 2)
            .map_err(|e| StorageError::Distribution(e.to_string()))?,
    );
    assert_eq!(v1(narrow)?, [DECIMAL_1_5, DECIMAL_MINUS_1_5]);
    let narrowest: ArrayRef = Arc::new(
        Decimal32Array::from(vec![Some(1500), None])
            .with_precision_and_scale(7, 3)
            .map_err(|e| StorageError::Distribution(e.to_string()))?,
    );
    assert_eq!(v1(narrowest)?, [DECIMAL_1_5, NULL]);
    Ok(())
}

#[test]
fn canonical_v1_golden_vectors_strings() -> Result<()> {
    let values = vec![Some(""), Some("abc"), Some("日本語"), Some("é"), None];
    let want = [STR_EMPTY, STR_ABC, STR_NIHONGO, STR_E_ACUTE, NULL];
    assert_eq!(v1(Arc::new(StringArray::from(values.clone())))?, want);
    assert_eq!(v1(Arc::new(LargeStringArray::from(values.clone())))?, want);
    assert_eq!(v1(Arc::new(StringViewArray::from(values)))?, want);
    Ok(())
}

#[test]
fn canonical_v1_golden_vectors_dates_and_timestamps() -> Result<()> {
    // Days since the epoch; 1969-12-31 is day -1.
    let dates = Date32Array::from(vec![Some(0), Some(19000), Some(-1), None]);
    assert_eq!(v1(Arc::new(dates))?, [INT_0, DATE_19000, INT_MINUS_1, NULL]);
    // Milliseconds, rounded down to days: -1 ms is 1969-12-31.
    let dates64 = Date64Array::from(vec![19000 * 86_400_000, -1, 0]);
    assert_eq!(v1(Arc::new(dates64))?, [DATE_19000, INT_MINUS_1, INT_0]);
    let micros = TimestampMicrosecondArray::from(vec![Some(1_700_000_000_123_456), Some(-1), None])
        .with_timezone("UTC");
    assert_eq!(
        v1(Arc::new(micros))?,
        [TS_1700000000123456, INT_MINUS_1, NULL]
    );
    let seconds = TimestampSecondArray::from(vec![1_700_000_000]);
    assert_eq!(v1(Arc::new(seconds))?, [TS_1700000000_S]);
    let millis = TimestampMillisecondArray::from(vec![1_700_000_000_123]);
    assert_eq!(v1(Arc::new(millis))?, [TS_1700000000123_MS]);
    // Nanoseconds, rounded down to microseconds: -1 ns is -1 µs.
    let nanos = TimestampNanosecondArray::from(vec![1_700_000_000_123_456_789, -1]);
    assert_eq!(v1(Arc::new(nanos))?, [TS_1700000000123456, INT_MINUS_1]);
    Ok(())
}

#[test]
fn canonical_v1_golden_vectors_null_type() -> Result<()> {
    assert_eq!(v1(Arc::new(NullArray::new(2)))?, [NULL, NULL]);
    assert_eq!(NULL_HASH, NULL.0);
    assert_eq!(fnv1a(&[]), STR_EMPTY.0, "FNV-1a's offset basis");
    Ok(())
}

/// What `RowFormatV0` gives with arrow 59.3: computed by the release before
/// `CanonicalV1` existed. If an arrow upgrade breaks this test, tables placed with V0
/// would be read with rows on the wrong slices: they must be rewritten first.
#[test]
fn row_format_v0_golden_vectors() -> Result<()> {
    let v0 = |column: ArrayRef| goldens(DistHash::RowFormatV0, column);
    let int64 = Int64Array::from(vec![Some(0), Some(7), Some(-1), Some(i64::MIN), None]);
    assert_eq!(
        v0(Arc::new(int64))?,
        [
            (0xcffd_b162_079a_442c, 0, 0),
            (0xcffd_b062_079a_4279, 1, 5),
            (0xd72b_de26_86fb_caa4, 0, 0),
            (0x529a_2cdc_8ff5_33ac, 0, 4),
            (0xe604_823a_2490_29bf, 3, 3),
        ]
    );
    // V0 depends on the integer width: INT 7 and BIGINT 7 differ.
    let int32 = Int32Array::from(vec![Some(0), Some(7), Some(-1), None]);
    assert_eq!(
        v0(Arc::new(int32))?,
        [
            (0xd563_70d9_c2ba_c76c, 0, 2),
            (0xd563_6fd9_c2ba_c5b9, 1, 1),
            (0x3f78_b3f8_57a6_56c8, 0, 0),
            (0xe4bc_4fd9_252b_e94f, 3, 3),
        ]
    );
    let strings = StringArray::from(vec![Some(""), Some("abc"), Some("日本"), None]);
    assert_eq!(
        v0(Arc::new(strings))?,
        [
            (0xaf63_bc4c_8601_b62c, 0, 2),
            (0xf152_914a_d100_9506, 2, 0),
            (0xce5d_421c_21ea_82ed, 1, 1),
            (0xaf63_bd4c_8601_b7df, 3, 3),
        ]
    );
    Ok(())
}

/// A batch's column is often a slice of a larger array (an offset into shared
/// buffers): its hashes are those of its own values.
#[test]
fn sliced_columns_hash_their_own_rows() -> Result<()> {
    let whole: ArrayRef = Arc::new(Int64Array::from(vec![Some(7), None, Some(1), Some(-1)]));
    assert_eq!(v1(whole.slice(1, 3))?, [NULL, INT_1, INT_MINUS_1]);
    let strings: ArrayRef = Arc::new(StringArray::from(vec![Some("x"), Some("abc"), None]));
    assert_eq!(v1(strings.slice(1, 2))?, [STR_ABC, NULL]);
    let booleans: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)]));
    assert_eq!(v1(booleans.slice(1, 2))?, [NULL, FALSE]);
    Ok(())
}

#[test]
fn types_without_a_canonical_hash_are_refused_by_name() -> Result<()> {
    let cases: Vec<(ArrayRef, &str)> = vec![
        (
            Arc::new(arrow::array::BinaryArray::from(vec![b"a".as_ref()])),
            "Binary",
        ),
        (
            Arc::new(arrow::array::Time64MicrosecondArray::from(vec![1])),
            "Time64",
        ),
        (
            Arc::new(
                arrow::array::DictionaryArray::<arrow::datatypes::Int32Type>::from_iter(["a"]),
            ),
            "Dictionary",
        ),
    ];
    for (column, name) in cases {
        match DistHash::CanonicalV1.hash_column(&column) {
            Err(StorageError::Distribution(message)) => {
                assert!(message.contains(name), "{message}")
            }
            other => panic!("{name}: expected a distribution error, got {other:?}"),
        }
    }
    Ok(())
}

/// The names are stored in catalog records.
#[test]
fn dist_hash_names_in_records() -> Result<()> {
    let json =
        |h: DistHash| serde_json::to_string(&h).map_err(|e| StorageError::Catalog(e.to_string()));
    assert_eq!(json(DistHash::RowFormatV0)?, "\"RowFormatV0\"");
    assert_eq!(json(DistHash::CanonicalV1)?, "\"CanonicalV1\"");
    let back: DistHash = serde_json::from_str("\"CanonicalV1\"")
        .map_err(|e| StorageError::Catalog(e.to_string()))?;
    assert_eq!(back, DistHash::CanonicalV1);
    Ok(())
}
