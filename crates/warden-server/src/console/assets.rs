//! The console's stylesheet and script, embedded in the binary and served
//! under names carrying their content hash (`console.1a2b3c4d5e6f.css`), so
//! a browser may keep them for a year and never runs a stale script
//! against a new page.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::Digest as _;

/// The embedded files: name, content type, bytes.
const FILES: [(&str, &str, &str); 2] = [
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console.js"),
    ),
];

/// Each file's served name, computed once.
fn hashed() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        FILES
            .iter()
            .map(|(name, _, body)| {
                let digest = hex::encode(sha2::Sha256::digest(body.as_bytes()));
                let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
                format!("{stem}.{}.{ext}", &digest[..12])
            })
            .collect()
    })
}

/// The URL path of an embedded file by its plain name
/// (`console.css` → `/console/assets/console.<hash>.css`).
pub fn asset_path(name: &str) -> String {
    FILES
        .iter()
        .zip(hashed())
        .find(|((n, _, _), _)| *n == name)
        .map(|(_, h)| format!("/console/assets/{h}"))
        .unwrap_or_default()
}

/// `GET /console/assets/{file}`: an embedded file by its hashed name.
pub async fn serve(Path(file): Path<String>) -> Response {
    let Some(((_, kind, body), _)) = FILES.iter().zip(hashed()).find(|(_, h)| **h == file) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mut r = (StatusCode::OK, *body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_named_by_their_content() {
        let css = asset_path("console.css");
        assert!(css.starts_with("/console/assets/console.") && css.ends_with(".css"));
        let hash = &css["/console/assets/console.".len()..css.len() - 4];
        let want = hex::encode(sha2::Sha256::digest(FILES[0].2.as_bytes()));
        assert_eq!(hash, &want[..12]);
        assert_eq!(asset_path("missing.js"), "");
    }
}
