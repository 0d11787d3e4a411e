//! Schemas as fragments carry them: datafusion-proto `Schema` messages.

use datafusion::arrow::datatypes::Schema;
use datafusion::error::{DataFusionError, Result};
use prost::Message;

/// A fragment that could not be encoded or decoded.
pub(crate) fn proto_err(e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Internal(format!("fragment codec: {e}"))
}

/// `schema` as datafusion-proto bytes, as fragments carry schemas.
pub fn schema_to_bytes(schema: &Schema) -> Result<Vec<u8>> {
    Ok(datafusion_proto::protobuf::Schema::try_from(schema)
        .map_err(proto_err)?
        .encode_to_vec())
}

/// A schema from [`schema_to_bytes`]'s bytes.
pub fn schema_from_bytes(bytes: &[u8]) -> Result<Schema> {
    let proto = datafusion_proto::protobuf::Schema::decode(bytes).map_err(proto_err)?;
    (&proto).try_into().map_err(proto_err)
}
