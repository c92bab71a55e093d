//! UBJSON is not read yet.

pub(crate) fn to_value(_bytes: &[u8]) -> Result<serde_json::Value, String> {
    Err("UBJSON models are not read; save the model as JSON: booster.save_model('model.json')".into())
}
