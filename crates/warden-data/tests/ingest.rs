//! The ingest pipeline on generated credit data.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use warden_data::example::{CreditOptions, generate_credit};
use warden_data::pii::Entity;
use warden_data::policy::{Action, PiiPolicy};
use warden_data::screen::ScreenOptions;
use warden_data::{IngestSpec, PseudonymKey, ingest};

fn credit(rows: usize, poison: f64, seed: u64) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::new();
    let flips = generate_credit(
        &CreditOptions {
            rows,
            seed,
            poison,
            ..Default::default()
        },
        &mut out,
    )
    .unwrap();
    (out, flips)
}

fn spec() -> IngestSpec {
    IngestSpec {
        target: Some("approved".into()),
        id: Some("customer_id".into()),
        sensitive: vec!["sex".into(), "age_band".into()],
        pseudonym_key: PseudonymKey(b"test key".to_vec()),
        screen: Some(ScreenOptions::default()),
        ..Default::default()
    }
}

#[test]
fn pii_is_found_and_handled_by_default() {
    let (csv, _) = credit(2000, 0.0, 1);
    let out = ingest(&mut csv.as_slice(), &spec()).unwrap();
    let r = &out.report;
    let entity = |c: &str| {
        r.pii
            .findings
            .iter()
            .find(|f| f.column == c)
            .and_then(|f| f.entity)
    };
    assert_eq!(entity("full_name"), Some(Entity::Name));
    assert_eq!(entity("email"), Some(Entity::Email));
    assert_eq!(entity("phone"), Some(Entity::Phone));
    assert_eq!(entity("ssn"), Some(Entity::Ssn));
    assert_eq!(entity("card_number"), Some(Entity::Card));
    assert_eq!(entity("street_address"), Some(Entity::Address));
    assert_eq!(entity("date_of_birth"), Some(Entity::DateOfBirth));
    let notes = r.pii.findings.iter().find(|f| f.column == "notes").unwrap();
    assert!(
        notes.embedded.contains_key(&Entity::Phone) && notes.embedded.contains_key(&Entity::Email),
        "{notes:?}"
    );
    // Direct identifiers are dropped, the id pseudonymised, notes redacted.
    for c in [
        "full_name",
        "email",
        "phone",
        "ssn",
        "card_number",
        "street_address",
        "date_of_birth",
    ] {
        assert!(out.table.column(c).is_none(), "{c} should be dropped");
        assert!(
            r.dropped
                .iter()
                .any(|d| d.column == c && d.reason.starts_with("PII")),
            "{c}"
        );
    }
    let id = out.table.column("customer_id").unwrap();
    assert!(id.data.text(0).unwrap().starts_with("p_"));
    let notes = out.table.column("notes").unwrap();
    for i in 0..out.table.rows {
        let t = notes.data.text(i).unwrap_or_default();
        assert!(!t.contains('@') && !t.contains("555"), "row {i}: {t}");
    }
    assert!(r.pii.unmasked.is_empty(), "{:?}", r.pii.unmasked);
    assert_eq!(r.features.len(), 9, "{:?}", r.features); // age .. debt_ratio, notes
    // Same input, same output bytes.
    let again = ingest(&mut csv.as_slice(), &spec()).unwrap();
    assert_eq!(again.table, out.table);
}

#[test]
fn policy_overrides_and_declared_pii_features_are_reported() {
    let (csv, _) = credit(300, 0.0, 2);
    let mut s = spec();
    s.features = Some(vec![
        "age".into(),
        "income".into(),
        "email".into(),
        "date_of_birth".into(),
    ]);
    s.pii_policy = PiiPolicy::parse("[columns]\nphone = \"mask\"\n", "p.toml").unwrap();
    s.screen = None;
    let out = ingest(&mut csv.as_slice(), &s).unwrap();
    // A declared direct identifier stays, and is reported unmasked.
    assert_eq!(out.report.pii.unmasked, ["email:email"]);
    // A declared date of birth is generalised to its year.
    let dob = out.table.column("date_of_birth").unwrap();
    assert_eq!(dob.data.text(0).unwrap().len(), 4);
    // phone is not a declared feature: dropped by minimisation even though masked by policy.
    assert!(out.table.column("phone").is_none());
    assert!(
        out.report
            .pii
            .actions
            .iter()
            .any(|a| a.column == "phone" && a.action == Action::Mask)
    );
    assert_eq!(
        out.table.names(),
        [
            "customer_id",
            "email",
            "date_of_birth",
            "age",
            "age_band",
            "sex",
            "income",
            "approved"
        ]
    );
}

#[test]
fn screen_finds_flipped_labels_with_precision() {
    let (csv, flips) = credit(10000, 0.05, 3);
    let out = ingest(&mut csv.as_slice(), &spec()).unwrap();
    let s = out.report.screen.as_ref().unwrap();
    let ln = s.label_noise.as_ref().unwrap();
    assert!(ln.out_of_fold_auc >= 0.9, "oof auc {}", ln.out_of_fold_auc);
    assert!(!ln.low_separability);
    let found: std::collections::HashSet<usize> = ln.suspects.rows.iter().copied().collect();
    let hits = flips.iter().filter(|r| found.contains(r)).count();
    let recall = hits as f64 / flips.len() as f64;
    let precision = hits as f64 / found.len().max(1) as f64;
    eprintln!(
        "oof auc {:.4}, recall {recall:.3}, precision {precision:.3}",
        ln.out_of_fold_auc
    );
    assert!(
        recall >= 0.85 && precision >= 0.85,
        "recall {recall:.3} precision {precision:.3} ({} suspects, {} flips)",
        found.len(),
        flips.len()
    );
}

#[test]
fn intrinsically_noisy_labels_are_called_low_separability() {
    let (csv, _) = credit(3000, 0.0, 4);
    // Replace the label with a coin flip unrelated to the features.
    let text = String::from_utf8(csv).unwrap();
    let mut out = String::new();
    let mut state = 12345u64;
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            out.push_str(line);
        } else {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (head, _) = line.rsplit_once(',').unwrap();
            out.push_str(&format!("{head},{}", (state >> 33) & 1));
        }
        out.push('\n');
    }
    let res = ingest(&mut out.as_bytes(), &spec()).unwrap();
    let s = res.report.screen.unwrap();
    let ln = s.label_noise.unwrap();
    assert!(ln.low_separability, "auc {}", ln.out_of_fold_auc);
    assert_eq!(ln.suspects.count, 0);
    assert!(s.notes.iter().any(|n| n.contains("intrinsically noisy")));
    assert!(s.suspect_fraction < 0.01);
}

#[test]
fn bad_input_is_refused_with_where() {
    let mut s = spec();
    s.target = Some("nope".into());
    let (csv, _) = credit(50, 0.0, 5);
    let e = ingest(&mut csv.as_slice(), &s).unwrap_err().to_string();
    assert!(e.contains("nope") && e.contains("not in the file"), "{e}");
    let e = ingest(
        &mut &b"a,b\n1,2\n"[..],
        &IngestSpec {
            expected_digest: Some(warden_core::Digest::of(b"x")),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not the pinned"), "{e}");
    // A constant target cannot be screened.
    let e = ingest(
        &mut &b"x,y\n1,0\n2,0\n3,0\n"[..],
        &IngestSpec {
            target: Some("y".into()),
            screen: Some(ScreenOptions::default()),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("distinct value"), "{e}");
}

#[test]
fn duplicate_rows_are_counted_on_the_values_read() {
    let out = ingest(
        &mut &b"a,b\n1,2\n1,2\n1,NA\n1,\n3,4\n1,2\n"[..],
        &IngestSpec::default(),
    )
    .unwrap();
    // Rows 2 and 6 repeat row 1; "1,NA" and "1," are both a missing b.
    assert_eq!(out.report.duplicate_rows, 3);
    assert_eq!(warden_data::duplicate_rows(&out.table), 3);
}

#[test]
fn large_files_set_dropped_columns_aside_with_the_same_result() {
    // Past 20,000 rows, columns that will be dropped stop being kept; the
    // outcome must be what a full read decides.
    let (csv, _) = credit(30_000, 0.0, 9);
    let mut s = spec();
    s.screen = None;
    let out = ingest(&mut csv.as_slice(), &s).unwrap();
    let r = &out.report;
    for c in [
        "full_name",
        "email",
        "phone",
        "ssn",
        "card_number",
        "street_address",
        "date_of_birth",
    ] {
        assert!(out.table.column(c).is_none(), "{c}");
        let f = r.pii.findings.iter().find(|f| f.column == c).unwrap();
        assert!(
            f.entity.is_some() && (f.evidence == "name" || !f.examples.is_empty()),
            "{f:?}"
        );
    }
    assert_eq!(out.table.rows, 30_000);
    assert_eq!(r.source_rows, 30_000);
    assert_eq!(r.source_columns.len(), 20);
    // The kept columns hold every row.
    let income = out.table.column("income").unwrap();
    assert!(income.data.number(29_999).is_some());
    // A schema that names a PII column keeps it readable for validation.
    let mut s2 = s.clone();
    s2.schema = Some(
        warden_data::schema::Schema::parse("[columns.email]\nunique = true\n", "s.toml").unwrap(),
    );
    let out2 = ingest(&mut csv.as_slice(), &s2).unwrap();
    assert!(
        out2.report
            .expectations
            .iter()
            .any(|e| e.column == "email" && e.passed)
    );
}
