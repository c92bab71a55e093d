//! ε from Warden's RDP accountant against Opacus's own figures.
//!
//! The figures were produced by `tests/reference/opacus_rdp.py`, which loads
//! `opacus/accountants/analysis/rdp.py` from the `opacus==1.5.2` wheel on PyPI
//! (downloaded with `pip download opacus==1.5.2 --no-deps`; the module needs
//! only numpy and scipy, so torch is not installed) and calls its
//! `compute_rdp` and `get_privacy_spent` with Opacus's default orders at
//! δ = 1e-5. Google's `dp-accounting` gives figures up to 5e-5 apart at
//! fractional orders (it adds every term of the series, where Opacus
//! subtracts the negative ones), so Opacus is the reference.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use warden_ml::privacy::OPACUS_ORDERS;
use warden_ml::privacy::rdp::epsilon;

/// (sample rate, noise multiplier, steps, ε, optimal order)
const OPACUS: &[(f64, f64, u64, f64, f64)] = &[
    (0.001, 0.8, 100, 1.0821004385053803, 8.9),
    (0.001, 0.8, 1000, 1.158904134794511, 8.6),
    (0.001, 0.8, 10000, 1.3838217954377952, 8.2),
    (0.001, 1.1, 100, 0.5192904708692231, 16.0),
    (0.001, 1.1, 1000, 0.5295493532921038, 16.0),
    (0.001, 1.1, 10000, 0.6321381775209115, 16.0),
    (0.001, 1.5, 100, 0.23938292980818007, 31.0),
    (0.001, 1.5, 1000, 0.254402292550019, 30.0),
    (0.001, 1.5, 10000, 0.33170403714088553, 30.0),
    (0.004, 0.8, 100, 1.5244743623051102, 7.0),
    (0.004, 0.8, 1000, 1.9123573809530134, 6.5),
    (0.004, 0.8, 10000, 3.9404674292264215, 5.3),
    (0.004, 1.1, 100, 0.6868851146175542, 13.0),
    (0.004, 1.1, 1000, 0.8687835040507926, 12.0),
    (0.004, 1.1, 10000, 2.0130594443876637, 9.8),
    (0.004, 1.5, 100, 0.3315469349922721, 24.0),
    (0.004, 1.5, 1000, 0.43703437049186017, 24.0),
    (0.004, 1.5, 10000, 1.2558089861826913, 15.0),
    (0.01, 0.8, 100, 2.185316245509876, 5.7),
    (0.01, 0.8, 1000, 3.695428832544017, 4.8),
    (0.01, 0.8, 10000, 10.935373444641078, 3.0),
    (0.01, 1.1, 100, 0.9560910987474418, 10.7),
    (0.01, 1.1, 1000, 1.7117700912203435, 9.6),
    (0.01, 1.1, 10000, 5.63199236854841, 4.7),
    (0.01, 1.5, 100, 0.465117918116822, 20.0),
    (0.01, 1.5, 1000, 1.0129527672164003, 17.0),
    (0.01, 1.5, 10000, 3.459385045537264, 6.6),
];

#[test]
fn epsilon_agrees_with_opacus_to_1e_6_relative() {
    let mut worst = 0.0f64;
    for &(q, sigma, steps, want, order) in OPACUS {
        let (eps, best) = epsilon(q, sigma, steps, 1e-5, &OPACUS_ORDERS).unwrap();
        let rel = (eps - want).abs() / want;
        worst = worst.max(rel);
        assert!(
            rel < 1e-6,
            "q={q} sigma={sigma} steps={steps}: {eps} vs Opacus {want} ({rel:e})"
        );
        assert_eq!(best, order, "q={q} sigma={sigma} steps={steps}");
    }
    eprintln!("worst relative difference from Opacus: {worst:e}");
}
