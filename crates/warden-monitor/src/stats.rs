//! The two-sample statistics the drift tests are made of. Each function
//! takes plain slices or counts and returns a number; choosing which to run
//! and deciding what it means is [`crate::drift`]'s job.
//!
//! Distributions come from `statrs` (chi-square) and `libm` (the normal
//! tail). The Kolmogorov–Smirnov p-value is computed here: `statrs`'s
//! two-sample routine does not terminate when the statistic is 0, and
//! neither the exact small-sample distribution (a lattice-path count) nor
//! the exact one-sample distribution SciPy uses for large samples
//! ([`crate::kstwo`]) is in any crate we use.

use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Sorts floats ascending in `f64::total_cmp` order (so `-0.0` before
/// `0.0`). The drift tests sort every column of both samples, and on
/// millions of rows that is a fifth of their time: large samples take a
/// radix sort (voracious, about 1.5x radsort on a million decimals here),
/// small ones or any with a NaN (which the radix sort's comparisons would
/// not order) the standard sort.
pub fn sort_floats(v: &mut [f64]) {
    use voracious_radix_sort::RadixSort;
    if v.len() > RADIX_FROM && !v.iter().any(|x| x.is_nan()) {
        v.voracious_sort();
        // The radix sort's comparison passes treat -0.0 and 0.0 as equal,
        // so the zeros (contiguous) are put back in total_cmp order.
        let (lo, hi) = (
            v.partition_point(|x| *x < 0.0),
            v.partition_point(|x| *x <= 0.0),
        );
        let negative = v[lo..hi].iter().filter(|x| x.is_sign_negative()).count();
        for (i, x) in v[lo..hi].iter_mut().enumerate() {
            *x = if i < negative { -0.0 } else { 0.0 };
        }
    } else {
        v.sort_unstable_by(f64::total_cmp);
    }
}

/// Samples longer than this are radix sorted.
const RADIX_FROM: usize = 30_000;

/// Kolmogorov–Smirnov two-sample statistic of two **sorted** samples,
/// as the integer `max |i·n2 − j·n1|` (so `D = h / (n1·n2)` exactly).
pub fn ks_h(a: &[f64], b: &[f64]) -> u128 {
    let (n1, n2) = (a.len() as u128, b.len() as u128);
    let (mut i, mut j) = (0usize, 0usize);
    let mut h = 0u128;
    while i < a.len() && j < b.len() {
        let x = if a[i] <= b[j] { a[i] } else { b[j] };
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        let (u, v) = (i as u128 * n2, j as u128 * n1);
        h = h.max(u.abs_diff(v));
    }
    // Once one sample is used up the gap only closes.
    h
}

/// Largest sample size for which the exact two-sample p-value is computed
/// (a walk over `n1·n2` lattice points); larger samples use the exact
/// distribution of the one-sample statistic at the effective size, as
/// SciPy's `ks_2samp` does in its default mode.
pub const KS_EXACT_MAX_N: usize = 10_000;

/// KS two-sample statistic `D` and two-sided p-value for sorted samples,
/// as SciPy's `ks_2samp` (method `auto`) computes them: exact (the
/// probability that a random lattice path leaves the band
/// `|i/n1 − j/n2| < D`) when both samples have at most [`KS_EXACT_MAX_N`]
/// values; otherwise `kstwo.sf(D, round(n1·n2/(n1 + n2)))`, the exact
/// distribution of the one-sample statistic ([`crate::kstwo::kstwo_sf`]).
pub fn ks_test(a: &[f64], b: &[f64]) -> (f64, f64) {
    if a.is_empty() || b.is_empty() {
        return (0.0, 1.0);
    }
    let h = ks_h(a, b);
    let (n1, n2) = (a.len(), b.len());
    let d = h as f64 / (n1 as f64 * n2 as f64);
    let p = if n1.max(n2) <= KS_EXACT_MAX_N {
        ks_exact_p(n1, n2, h)
    } else {
        ks_large_p(d, n1 as f64, n2 as f64)
    };
    (d, p)
}

/// Two-sided KS p-value for large samples: `kstwo.sf(D, n)` with
/// `n = round(n1·n2/(n1 + n2))` (ties to even, as NumPy rounds).
pub fn ks_large_p(d: f64, n1: f64, n2: f64) -> f64 {
    let (m, n) = if n1 >= n2 { (n1, n2) } else { (n2, n1) };
    let en = m * n / (m + n);
    if en <= 0.0 || d <= 0.0 {
        return 1.0;
    }
    let n = en.round_ties_even().max(1.0) as u64;
    crate::kstwo::kstwo_sf(n, d)
}

/// `P(D >= h / (n1·n2))` under the null, by walking the lattice.
/// `u[j]` holds the probability that a uniformly random monotone path to
/// `(i, j)` stayed strictly inside the band; a path arrives from the left
/// with probability `i / (i + j)` and from below with `j / (i + j)`.
pub fn ks_exact_p(n1: usize, n2: usize, h: u128) -> f64 {
    if h == 0 {
        return 1.0;
    }
    let inside = |i: usize, j: usize| (i as u128 * n2 as u128).abs_diff(j as u128 * n1 as u128) < h;
    let mut u = vec![0.0f64; n2 + 1];
    u[0] = 1.0;
    for j in 1..=n2 {
        u[j] = if inside(0, j) { u[j - 1] } else { 0.0 };
    }
    for i in 1..=n1 {
        u[0] = if inside(i, 0) { u[0] } else { 0.0 };
        // Only a band of j values can be inside; skip the rest quickly.
        for j in 1..=n2 {
            u[j] = if inside(i, j) {
                let t = (i + j) as f64;
                (i as f64 * u[j] + j as f64 * u[j - 1]) / t
            } else {
                0.0
            };
        }
    }
    (1.0 - u[n2]).clamp(0.0, 1.0)
}

/// Survival function of the Kolmogorov distribution,
/// `2 Σ (−1)^(k−1) exp(−2k²λ²)`.
pub fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    let mut sign = 1.0;
    for k in 1..=200 {
        let kf = k as f64;
        let term = (-2.0 * kf * kf * lambda * lambda).exp();
        sum += sign * term;
        if term < 1e-18 {
            break;
        }
        sign = -sign;
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// First Wasserstein distance between two **sorted** samples: the area
/// between their empirical distribution functions.
pub fn wasserstein(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut area = 0.0;
    let mut prev = a[0].min(b[0]);
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        area += (i as f64 / na - j as f64 / nb).abs() * (x - prev);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        prev = x;
    }
    area
}

/// Wasserstein distance between a distribution known by its quantile
/// function (piecewise linear through `points` of `[level, value]`,
/// levels from 0 to 1) and a sorted sample: `∫₀¹ |Q_ref(u) − Q_cur(u)| du`
/// on a 2,000-point midpoint grid.
pub fn wasserstein_quantiles(points: &[[f64; 2]], b: &[f64]) -> f64 {
    if points.len() < 2 || b.is_empty() {
        return 0.0;
    }
    const GRID: usize = 2000;
    let mut sum = 0.0;
    for k in 0..GRID {
        let u = (k as f64 + 0.5) / GRID as f64;
        let q_ref = interpolate(points, u);
        let idx = ((u * b.len() as f64) as usize).min(b.len() - 1);
        sum += (q_ref - b[idx]).abs();
    }
    sum / GRID as f64
}

/// Piecewise-linear interpolation through `[x, y]` points sorted by x.
pub fn interpolate(points: &[[f64; 2]], x: f64) -> f64 {
    let k = points.partition_point(|p| p[0] < x);
    if k == 0 {
        return points[0][1];
    }
    if k >= points.len() {
        return points[points.len() - 1][1];
    }
    let ([x0, y0], [x1, y1]) = (points[k - 1], points[k]);
    if x1 <= x0 {
        return y1;
    }
    y0 + (y1 - y0) * (x - x0) / (x1 - x0)
}

/// Jensen–Shannon distance (natural logarithm, as SciPy's default) of two
/// weight vectors, each normalised to sum 1. In `[0, √ln 2]`.
pub fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
    if sp <= 0.0 || sq <= 0.0 {
        return 0.0;
    }
    let mut js = 0.0;
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a / sp, b / sq);
        let m = (a + b) / 2.0;
        if a > 0.0 {
            js += a * (a / m).ln();
        }
        if b > 0.0 {
            js += b * (b / m).ln();
        }
    }
    (js / 2.0).max(0.0).sqrt()
}

/// Upper tail of the chi-square distribution with `df` degrees of freedom.
pub fn chi2_sf(stat: f64, df: f64) -> f64 {
    if stat.is_nan() {
        return f64::NAN;
    }
    if stat == f64::INFINITY {
        return 0.0;
    }
    if df <= 0.0 || stat <= 0.0 {
        return 1.0;
    }
    match ChiSquared::new(df) {
        Ok(d) => d.sf(stat).clamp(0.0, 1.0),
        Err(_) => f64::NAN,
    }
}

/// Pearson's goodness-of-fit test of observed counts against expected
/// ones (`k − 1` degrees of freedom): `(statistic, p-value)`.
pub fn chi2_goodness_of_fit(observed: &[f64], expected: &[f64]) -> (f64, f64) {
    let mut stat = 0.0;
    for (&o, &e) in observed.iter().zip(expected) {
        let diff = o - e;
        stat += if e > 0.0 {
            diff * diff / e
        } else if diff == 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let df = observed.len().saturating_sub(1) as f64;
    (stat, chi2_sf(stat, df))
}

/// Expected count below which a level is merged with the other rare ones.
pub const RARE_EXPECTED: f64 = 5.0;

/// Two count vectors over the same levels with every level whose expected
/// count (under homogeneity) is below [`RARE_EXPECTED`] in the smaller
/// sample merged into one trailing level; empty levels are dropped.
pub fn merge_rare(a: &[f64], b: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (na, nb) = (a.iter().sum::<f64>(), b.iter().sum::<f64>());
    let n = na + nb;
    let (mut ka, mut kb) = (Vec::new(), Vec::new());
    let mut rare = (0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let col = x + y;
        if col <= 0.0 {
            continue;
        }
        if n > 0.0 && col * na.min(nb) / n < RARE_EXPECTED {
            rare.0 += x;
            rare.1 += y;
        } else {
            ka.push(x);
            kb.push(y);
        }
    }
    if rare.0 + rare.1 > 0.0 {
        ka.push(rare.0);
        kb.push(rare.1);
    }
    (ka, kb)
}

/// Chi-square test of homogeneity of two count vectors over the same
/// levels (a 2 × k contingency table, no continuity correction), rare
/// levels merged first ([`merge_rare`]). `(statistic, p-value, levels
/// tested)`.
pub fn chi2_two_sample(a: &[f64], b: &[f64]) -> (f64, f64, usize) {
    let (na, nb) = (a.iter().sum::<f64>(), b.iter().sum::<f64>());
    let n = na + nb;
    if na <= 0.0 || nb <= 0.0 {
        return (0.0, 1.0, 0);
    }
    let (ma, mb) = merge_rare(a, b);
    if ma.len() < 2 {
        return (0.0, 1.0, ma.len());
    }
    let mut stat = 0.0;
    for (&x, &y) in ma.iter().zip(&mb) {
        let col = x + y;
        let (ea, eb) = (col * na / n, col * nb / n);
        stat += (x - ea) * (x - ea) / ea + (y - eb) * (y - eb) / eb;
    }
    let df = (ma.len() - 1) as f64;
    (stat, chi2_sf(stat, df), ma.len())
}

/// Two-sided p-value of the two-proportion z-test (pooled variance).
pub fn proportions_z_test(x1: f64, n1: f64, x2: f64, n2: f64) -> f64 {
    let (p1, p2) = (x1 / n1, x2 / n2);
    let pooled = (x1 + x2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let z = (p1 - p2) / se;
    if z.is_nan() {
        return f64::NAN;
    }
    2.0 * normal_sf(z.abs())
}

/// Upper tail of the standard normal distribution.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// Smallest share an empty bin counts as in the population stability
/// index, so one empty bin gives a large but finite contribution.
pub const PSI_FLOOR: f64 = 1e-4;

/// Population stability index `Σ (c − r)·ln(c / r)` over bin counts, both
/// sides turned into shares with empty bins floored at [`PSI_FLOOR`].
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    let (sr, sc) = (reference.iter().sum::<f64>(), current.iter().sum::<f64>());
    if sr <= 0.0 || sc <= 0.0 {
        return 0.0;
    }
    reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| {
            let r = (r / sr).max(PSI_FLOOR);
            let c = (c / sc).max(PSI_FLOOR);
            (c - r) * (c / r).ln()
        })
        .sum()
}

/// Counts of a **sorted** sample in bins cut at `edges` (ascending
/// interior and outer edges); the first and last bins are open-ended, so
/// values outside the reference range land in the outer bins instead of
/// being lost. Bin `k` holds `edges[k] <= v < edges[k + 1]` for interior
/// edges; found by binary search per edge, not per value.
pub fn bin_counts_open(sorted: &[f64], edges: &[f64]) -> Vec<f64> {
    let bins = edges.len().saturating_sub(1).max(1);
    let mut counts = vec![0.0; bins];
    let mut start = 0usize;
    for (k, c) in counts.iter_mut().enumerate() {
        let end = if k + 1 < bins {
            let e = edges[k + 1];
            sorted.partition_point(|v| *v < e)
        } else {
            sorted.len()
        };
        *c = end.saturating_sub(start) as f64;
        start = end.max(start);
    }
    counts
}

/// How p-values of several features are adjusted for testing many at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Benjamini–Hochberg (false discovery rate).
    BenjaminiHochberg,
    /// Bonferroni (family-wise error rate).
    Bonferroni,
    /// No adjustment: each p-value is compared as it is.
    None,
}

impl Correction {
    /// `bh` (or `benjamini-hochberg`, `fdr`), `bonferroni`, `none`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bh" | "benjamini-hochberg" | "fdr" => Some(Correction::BenjaminiHochberg),
            "bonferroni" => Some(Correction::Bonferroni),
            "none" => Some(Correction::None),
            _ => None,
        }
    }

    /// The name as serialised: `benjamini_hochberg`, `bonferroni` or `none`
    /// ([`Correction::parse`] takes `bh` for the first).
    pub fn as_str(self) -> &'static str {
        match self {
            Correction::BenjaminiHochberg => "benjamini_hochberg",
            Correction::Bonferroni => "bonferroni",
            Correction::None => "none",
        }
    }

    /// Adjusted p-values in the input order; NaN stays NaN and is not
    /// counted as a test.
    pub fn adjust(self, p: &[f64]) -> Vec<f64> {
        let idx: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
        let m = idx.len() as f64;
        let mut out = p.to_vec();
        match self {
            Correction::None => {}
            Correction::Bonferroni => {
                for &i in &idx {
                    out[i] = (p[i] * m).min(1.0);
                }
            }
            Correction::BenjaminiHochberg => {
                let mut order = idx.clone();
                order.sort_by(|&x, &y| p[x].total_cmp(&p[y]));
                let mut running = 1.0f64;
                for (rank, &i) in order.iter().enumerate().rev() {
                    running = running.min(p[i] * m / (rank + 1) as f64);
                    out[i] = running.min(1.0);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn ks_identical_samples_is_zero_and_terminates() {
        let a = [1.0, 2.0, 3.0];
        assert_eq!(ks_test(&a, &a), (0.0, 1.0));
    }

    #[test]
    fn ks_exact_matches_known_values() {
        // Fully separated samples of 3 and 3: D = 1, p = 2 / C(6,3) = 0.1.
        let (d, p) = ks_test(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
        assert_eq!(d, 1.0);
        assert!(close(p, 0.1, 1e-12), "{p}");
        // 5 vs 4, separated: 2 / C(9,4) = 2/126.
        let (_, p) = ks_test(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0]);
        assert!(close(p, 2.0 / 126.0, 1e-12), "{p}");
    }

    #[test]
    fn ks_large_sample_p_is_close_to_exact_for_moderate_samples() {
        let a: Vec<f64> = (0..400).map(|i| i as f64).collect();
        let b: Vec<f64> = (0..300).map(|i| i as f64 * 1.1 + 7.0).collect();
        let h = ks_h(&a, &b);
        let d = h as f64 / (400.0 * 300.0);
        let exact = ks_exact_p(400, 300, h);
        let asym = ks_large_p(d, 400.0, 300.0);
        assert!(close(exact, asym, 0.01), "{exact} vs {asym}");
    }

    #[test]
    fn kolmogorov_q_known_points() {
        // Q(1.36) ≈ 0.0494, Q(1.0) ≈ 0.2700.
        assert!(close(kolmogorov_q(1.36), 0.04942, 1e-4));
        assert!(close(kolmogorov_q(1.0), 0.26999967, 1e-6));
    }

    #[test]
    fn wasserstein_of_a_shift_is_the_shift() {
        let a: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 2.5).collect();
        assert!(close(wasserstein(&a, &b), 2.5, 1e-9));
        assert_eq!(wasserstein(&a, &a), 0.0);
        // Unequal sizes: {0,1} vs {0}: area 0.5.
        assert!(close(wasserstein(&[0.0, 1.0], &[0.0]), 0.5, 1e-12));
    }

    #[test]
    fn wasserstein_from_quantiles_tracks_the_sample_version() {
        let a: Vec<f64> = (0..=1000).map(|i| i as f64 / 1000.0).collect();
        let points: Vec<[f64; 2]> = (0..=10)
            .map(|k| [k as f64 / 10.0, k as f64 / 10.0])
            .collect();
        let b: Vec<f64> = a.iter().map(|x| x + 0.3).collect();
        let w = wasserstein_quantiles(&points, &b);
        assert!(close(w, 0.3, 0.002), "{w}");
    }

    #[test]
    fn jensen_shannon_bounds() {
        assert_eq!(jensen_shannon(&[1.0, 1.0], &[2.0, 2.0]), 0.0);
        let max = jensen_shannon(&[1.0, 0.0], &[0.0, 1.0]);
        assert!(close(max, std::f64::consts::LN_2.sqrt(), 1e-12));
    }

    #[test]
    fn chi2_values() {
        // chi2.sf(3.84146, 1) ≈ 0.05
        assert!(close(chi2_sf(3.841458820694124, 1.0), 0.05, 1e-9));
        let (s, p) = chi2_goodness_of_fit(&[10.0, 10.0], &[10.0, 10.0]);
        assert_eq!((s, p), (0.0, 1.0));
        let (s, p) = chi2_goodness_of_fit(&[1.0, 0.0], &[0.0, 1.0]);
        assert!(s.is_infinite() && p == 0.0);
        // Homogeneous samples give a large p; opposite ones a tiny p.
        let (_, p, _) = chi2_two_sample(&[50.0, 50.0, 50.0], &[100.0, 100.0, 100.0]);
        assert!(p > 0.99);
        let (_, p, _) = chi2_two_sample(&[90.0, 10.0], &[10.0, 90.0]);
        assert!(p < 1e-10);
        // Rare levels are merged, not dropped.
        let (_, _, k) = chi2_two_sample(&[100.0, 100.0, 1.0, 1.0], &[100.0, 100.0, 0.0, 1.0]);
        assert_eq!(k, 3);
    }

    #[test]
    fn z_test_two_sided() {
        let p = proportions_z_test(50.0, 100.0, 50.0, 100.0);
        assert!(close(p, 1.0, 1e-12));
        // z = 1.96 -> p = 0.05
        assert!(close(normal_sf(1.959963984540054) * 2.0, 0.05, 1e-12));
    }

    #[test]
    fn psi_floors_empty_bins() {
        assert_eq!(psi(&[10.0, 10.0], &[5.0, 5.0]), 0.0);
        let v = psi(&[10.0, 0.0], &[5.0, 5.0]);
        assert!(v.is_finite() && v > 2.0);
    }

    #[test]
    fn open_bins_keep_outliers() {
        let edges = [0.0, 1.0, 2.0, 3.0];
        let c = bin_counts_open(&[-5.0, 0.5, 1.0, 2.5, 3.0, 99.0], &edges);
        assert_eq!(c, vec![2.0, 1.0, 3.0]);
    }

    #[test]
    fn corrections() {
        let p = [0.01, 0.04, 0.03, f64::NAN];
        let b = Correction::Bonferroni.adjust(&p);
        assert!(close(b[0], 0.03, 1e-12) && close(b[1], 0.12, 1e-12) && b[3].is_nan());
        let bh = Correction::BenjaminiHochberg.adjust(&p);
        // sorted 0.01, 0.03, 0.04 -> 0.03, 0.04(min(0.045,0.04)), 0.04
        assert!(close(bh[0], 0.03, 1e-12), "{bh:?}");
        assert!(close(bh[2], 0.04, 1e-12) && close(bh[1], 0.04, 1e-12));
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn sample() -> impl Strategy<Value = Vec<f64>> {
            proptest::collection::vec(-1e6f64..1e6, 1..200).prop_map(|mut v| {
                v.sort_unstable_by(f64::total_cmp);
                v
            })
        }

        fn counts() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
            (1usize..12).prop_flat_map(|k| {
                (
                    proptest::collection::vec(0u32..500, k),
                    proptest::collection::vec(0u32..500, k),
                )
                    .prop_map(|(a, b)| {
                        (
                            a.into_iter().map(f64::from).collect(),
                            b.into_iter().map(f64::from).collect(),
                        )
                    })
            })
        }

        /// `v` through `sort_floats`, and through the standard sort in
        /// `total_cmp` order, as bit patterns (so ±0 and NaN count).
        fn sorted_bits(mut v: Vec<f64>) -> Vec<u64> {
            sort_floats(&mut v);
            v.iter().map(|x| x.to_bits()).collect()
        }
        fn total_cmp_bits(mut v: Vec<f64>) -> Vec<u64> {
            v.sort_unstable_by(f64::total_cmp);
            v.iter().map(|x| x.to_bits()).collect()
        }

        proptest! {
            // Large samples take the radix sort: few cases, each long.
            #![proptest_config(ProptestConfig::with_cases(24))]
            #[test]
            fn the_radix_sort_orders_large_samples_as_total_cmp(
                v in proptest::collection::vec(
                    prop_oneof![-1e300f64..1e300, -1.0f64..1.0, Just(0.0), Just(-0.0),
                        Just(f64::MIN_POSITIVE / 4.0), Just(-f64::MIN_POSITIVE), Just(f64::MAX)],
                    RADIX_FROM..RADIX_FROM + 40_000),
                nan in proptest::option::weighted(0.2, 0..RADIX_FROM),
                order in 0..3u8) {
                let mut v = v;
                // Runs already in order (or reversed) take other paths
                // through the radix sort than random input does.
                match order {
                    1 => v.sort_unstable_by(|a, b| a.abs().total_cmp(&b.abs())),
                    2 => v.sort_unstable_by(|a, b| b.total_cmp(a)),
                    _ => {}
                }
                if let Some(i) = nan {
                    v[i] = f64::NAN;
                }
                prop_assert_eq!(sorted_bits(v.clone()), total_cmp_bits(v));
            }
        }

        proptest! {
            #[test]
            fn small_samples_order_as_total_cmp(v in proptest::collection::vec(
                prop_oneof![-1e300f64..1e300, Just(0.0), Just(-0.0), Just(f64::MIN_POSITIVE / 4.0)], 0..300)) {
                prop_assert_eq!(sorted_bits(v.clone()), total_cmp_bits(v));
            }

            #[test]
            fn ks_is_a_probability_and_symmetric(a in sample(), b in sample()) {
                let (d, p) = ks_test(&a, &b);
                prop_assert!((0.0..=1.0).contains(&d) && (0.0..=1.0).contains(&p));
                let (d2, p2) = ks_test(&b, &a);
                prop_assert_eq!(d, d2);
                prop_assert!((p - p2).abs() < 1e-9);
            }

            #[test]
            fn wasserstein_is_a_symmetric_non_negative_distance(a in sample(), b in sample(), s in -100.0f64..100.0) {
                let w = wasserstein(&a, &b);
                prop_assert!(w >= 0.0 && w.is_finite());
                prop_assert!((w - wasserstein(&b, &a)).abs() <= 1e-6 * (1.0 + w));
                // Shifting a sample moves it by exactly the shift.
                let shifted: Vec<f64> = a.iter().map(|x| x + s).collect();
                prop_assert!((wasserstein(&a, &shifted) - s.abs()).abs() <= 1e-6 * (1.0 + s.abs() + a.last().unwrap().abs()));
            }

            #[test]
            fn distances_and_tests_stay_in_range((a, b) in counts()) {
                let js = jensen_shannon(&a, &b);
                prop_assert!((0.0..=std::f64::consts::LN_2.sqrt() + 1e-12).contains(&js));
                let psi = psi(&a, &b);
                prop_assert!(psi >= 0.0 && psi.is_finite());
                let (stat, p, _) = chi2_two_sample(&a, &b);
                prop_assert!(stat >= 0.0 && (0.0..=1.0).contains(&p));
            }

            #[test]
            fn adjusted_p_values_never_shrink(p in proptest::collection::vec(0.0f64..=1.0, 1..30)) {
                for c in [Correction::BenjaminiHochberg, Correction::Bonferroni] {
                    for (x, y) in p.iter().zip(c.adjust(&p)) {
                        prop_assert!(y >= *x - 1e-15 && y <= 1.0);
                    }
                }
            }
        }
    }
}
