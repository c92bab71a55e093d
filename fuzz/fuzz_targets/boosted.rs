//! Gradient-boosted tree import: arbitrary bytes as an XGBoost JSON,
//! XGBoost UBJSON and LightGBM text model, then (if one reads) a few rows
//! with missing, infinite and ordinary values through it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_ml::boosted::{BoostedFormat, parse_boosted};

fuzz_target!(|data: &[u8]| {
    for format in [
        BoostedFormat::XgboostJson,
        BoostedFormat::XgboostUbjson,
        BoostedFormat::LightgbmText,
    ] {
        let Ok(model) = parse_boosted(data, format) else { continue };
        let w = model.num_features();
        let mut rows = vec![0.0; 3 * w];
        rows[..w].fill(f64::NAN);
        rows[w..2 * w].fill(f64::INFINITY);
        let p = model.predict_proba(&rows, 1).unwrap_or_default();
        assert_eq!(p.len(), 3 * model.num_classes());
    }
});
