//! The exact distribution of the two-sided one-sample Kolmogorov–Smirnov
//! statistic D_n (SciPy's `kstwo`), which SciPy's `ks_2samp` evaluates at
//! n = round(n1·n2/(n1 + n2)) when either sample has more than 10,000
//! values. Ported from SciPy 1.17 (`scipy/stats/_ksstats.py`, after Simard
//! and L'Ecuyer 2011, and the one-sided Smirnov tail of
//! `scipy/special/cephes/kolmogorov.c`), branch for branch, so the p-values
//! agree with SciPy's to within 5e-10 (tests/ks_reference.rs); no Rust crate
//! provides it.
//!
//! The one difference in method: SciPy sums the Birnbaum–Tingey series of
//! the Smirnov tail in double-double arithmetic; here each term is formed
//! in logarithms (its terms are all positive where the lower sum is used, so
//! nothing cancels) and summed in f64, which keeps about 12 significant
//! digits for n up to 10^6.

use std::f64::consts::PI;

const SQRT_2PI: f64 = 2.506_628_274_631_000_2;
const LOG_2PI: f64 = 1.837_877_066_409_345_5;
/// cephes's MINLOG, log(2^-1075): exp() of anything below is 0.
const MIN_LOG: f64 = -745.133_219_101_941_2;
/// Above this n, SciPy approximates the Smirnov tail.
const SMIRNOV_MAX_COMPUTE_N: u64 = 1_000_000;
const E128: f64 = 3.402_823_669_209_385e38; // 2^128
const EM128: f64 = 2.938_735_877_055_719e-39; // 2^-128

/// P(D_n > x), SciPy's `kstwo.sf(x, n)`.
pub fn kstwo_sf(n: u64, x: f64) -> f64 {
    if n == 0 || x.is_nan() {
        return f64::NAN;
    }
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let nf = n as f64;
    let t = nf * x;
    if t <= 1.0 {
        // Ruben–Gambino: P(D_n <= x) = n!/n^n·(2t − 1)^n for 1/2n <= x <= 1/n.
        if t <= 0.5 {
            return 1.0;
        }
        let cdf = if n <= 140 {
            (1..=n).fold(1.0, |p, i| p * (i as f64 * (1.0 / nf) * (2.0 * t - 1.0)))
        } else {
            (log_nfactorial_div_n_pow_n(nf) + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return clip(1.0 - cdf);
    }
    if t >= nf - 1.0 {
        return clip(2.0 * (1.0 - x).powf(nf));
    }
    if x >= 0.5 {
        return clip(2.0 * smirnov_sf(n, x));
    }
    let nxx = t * x;
    if n <= 140 {
        if nxx <= 0.754693 {
            return clip(1.0 - clip(durbin_cdf(n, x)));
        }
        if nxx <= 4.0 {
            return clip(1.0 - clip(pomeranz_cdf(n, x)));
        }
        return clip(2.0 * smirnov_sf(n, x));
    }
    if nxx >= 370.0 {
        return 0.0;
    }
    if nxx >= 2.2 {
        return clip(2.0 * smirnov_sf(n, x));
    }
    let cdf = if n <= 100_000 && nf * x.powf(1.5) <= 1.4 {
        durbin_cdf(n, x)
    } else {
        pelz_good_cdf(nf, x)
    };
    clip(1.0 - clip(cdf))
}

fn clip(p: f64) -> f64 {
    p.clamp(0.0, 1.0)
}

/// log(n!/n^n) by Stirling's series with n·log n taken out.
fn log_nfactorial_div_n_pow_n(n: f64) -> f64 {
    const C: [f64; 8] = [
        -2.955_065_359_477_124_2e-2,
        1.0 / 156.0,
        -1.917_526_917_526_917_5e-3,
        1.0 / 1188.0,
        -5.952_380_952_380_952e-4,
        7.936_507_936_507_936e-4,
        -1.0 / 360.0,
        8.333_333_333_333_333e-2,
    ];
    let rn = 1.0 / n;
    let x = rn / n;
    let poly = C.iter().fold(0.0, |acc, &c| acc * x + c);
    n.ln() / 2.0 - n + LOG_2PI / 2.0 + rn * poly
}

/// P(D_n <= d) by Durbin's matrix (Marsaglia, Tsang and Wang 2003): the
/// k-th diagonal entry of H^n·n!/n^n, with H of side 2k − 1, k = ⌈nd⌉,
/// and powers of 2^128 taken out as they build up.
fn durbin_cdf(n: u64, d: f64) -> f64 {
    if d >= 1.0 {
        return 1.0;
    }
    let nf = n as f64;
    let nd = nf * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let mut v = vec![0.0f64; m];
    let mut w = vec![0.0f64; m];
    let mut fac = 1.0f64;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] = (1.0 - h.powi(j as i32)) * fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powi(m as i32) - 2.0 * h.powi(m as i32);
    v[m - 1] = (1.0 + tt) * fac;
    let mut hm = vec![0.0f64; m * m];
    for i in 1..m {
        for r in (i - 1)..m {
            hm[r * m + i] = w[r - (i - 1)];
        }
    }
    for r in 0..m {
        hm[r * m] = v[r];
    }
    for c in 0..m {
        hm[(m - 1) * m + c] = v[m - 1 - c];
    }
    let mut pwr = vec![0.0f64; m * m];
    for i in 0..m {
        pwr[i * m + i] = 1.0;
    }
    let (mut nn, mut expnt, mut h_expnt) = (n, 0i64, 0i64);
    while nn > 0 {
        if nn % 2 == 1 {
            pwr = matmul(&pwr, &hm, m);
            expnt += h_expnt;
        }
        hm = matmul(&hm, &hm, m);
        h_expnt *= 2;
        if hm[(k - 1) * m + (k - 1)].abs() > E128 {
            hm.iter_mut().for_each(|x| *x /= E128);
            h_expnt += 128;
        }
        nn /= 2;
    }
    let mut p = pwr[(k - 1) * m + (k - 1)];
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < EM128 {
            p *= E128;
            expnt -= 128;
        }
    }
    ldexp(p, expnt)
}

fn matmul(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut c = vec![0.0f64; m * m];
    for i in 0..m {
        for l in 0..m {
            let x = a[i * m + l];
            if x == 0.0 {
                continue;
            }
            let row = &b[l * m..(l + 1) * m];
            for (cj, &bj) in c[i * m..(i + 1) * m].iter_mut().zip(row) {
                *cj += x * bj;
            }
        }
    }
    c
}

fn ldexp(x: f64, e: i64) -> f64 {
    // Scale in steps that cannot overflow the exponent of 2^e.
    let mut x = x;
    let mut e = e;
    while e > 1000 {
        x *= 2f64.powi(1000);
        e -= 1000;
    }
    while e < -1000 {
        x *= 2f64.powi(-1000);
        e += 1000;
    }
    x * 2f64.powi(e as i32)
}

fn pomeranz_j1j2(i: i64, n: i64, ll: i64, ceilf: i64, roundf: i64) -> (i64, i64) {
    let (j1, j2) = if i == 0 {
        (-ll - ceilf - 1, ll + ceilf - 1)
    } else {
        let (ip1div2, ip1mod2) = ((i + 1) / 2, (i + 1) % 2);
        if ip1mod2 == 0 {
            if ip1div2 == n + 1 {
                (n - ll - ceilf - 1, n + ll + ceilf - 1)
            } else {
                (ip1div2 - 1 - ll - roundf - 1, ip1div2 + ll - 1 + ceilf - 1)
            }
        } else {
            (ip1div2 - 1 - ll - 1, ip1div2 + ll + roundf - 1)
        }
    };
    ((j1 + 2).max(0), j2.min(n))
}

/// P(D_n <= x) by Pomeranz's recursion (1974), for n <= 140.
fn pomeranz_cdf(n: u64, x: f64) -> f64 {
    let nf = n as f64;
    let ni = n as i64;
    let t = nf * x;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let ceilf = i64::from(f > 0.0);
    let roundf = i64::from(f > 0.5);
    let npwrs = (2 * (ll + 1)) as usize;
    let mut gpower = vec![1.0f64; npwrs];
    let mut twogpower = vec![1.0f64; npwrs];
    let mut onem2gpower = vec![1.0f64; npwrs];
    let (g_n, two_g_n, one_m2g_n) = (g / nf, 2.0 * g / nf, (1.0 - 2.0 * g) / nf);
    for m in 1..npwrs {
        gpower[m] = gpower[m - 1] * g_n / m as f64;
        twogpower[m] = twogpower[m - 1] * two_g_n / m as f64;
        onem2gpower[m] = onem2gpower[m - 1] * one_m2g_n / m as f64;
    }
    let mut v0 = vec![0.0f64; npwrs];
    let mut v1 = vec![0.0f64; npwrs];
    v1[0] = 1.0;
    let (mut v0s, mut v1s) = (0i64, 0i64);
    let mut expnt = 0i64;
    let (mut j1, _) = pomeranz_j1j2(0, ni, ll, ceilf, roundf);
    for i in 1..(2 * ni + 2) {
        let k1 = j1;
        std::mem::swap(&mut v0, &mut v1);
        std::mem::swap(&mut v0s, &mut v1s);
        v1.iter_mut().for_each(|x| *x = 0.0);
        let (nj1, j2) = pomeranz_j1j2(i, ni, ll, ceilf, roundf);
        j1 = nj1;
        let pwrs = if i == 1 || i == 2 * ni + 1 {
            &gpower
        } else if i % 2 == 1 {
            &twogpower
        } else {
            &onem2gpower
        };
        let ln2 = j2 - k1 + 1;
        if ln2 > 0 {
            let ln2 = ln2 as usize;
            // NumPy's slices stop at the end of the row.
            let start = ((k1 - v0s).max(0) as usize).min(npwrs);
            let src = &v0[start..(start + ln2).min(npwrs)];
            let ker = &pwrs[..ln2.min(npwrs)];
            // conv = np.convolve(src, ker); take conv[j1-k1 .. +len].
            let conv_start = (j1 - k1).max(0) as usize;
            let conv_len = ((j2 - j1 + 1).max(0) as usize).min(npwrs);
            for (out, idx) in (conv_start..conv_start + conv_len).enumerate() {
                let mut s = 0.0;
                for (a, &sa) in src.iter().enumerate() {
                    if a <= idx && idx - a < ker.len() {
                        s += sa * ker[idx - a];
                    }
                }
                v1[out] = s;
            }
            let max = v1.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if 0.0 < max && max < EM128 {
                v1.iter_mut().for_each(|x| *x *= E128);
                expnt -= 128;
            }
            v1s = v0s + j1 - k1;
        }
    }
    let mut ans = v1[(ni - v1s) as usize];
    for m in 1..=n {
        if ans.abs() > E128 {
            ans *= EM128;
            expnt += 128;
        }
        ans *= m as f64;
    }
    ldexp(ans, expnt)
}

/// P(D_n <= x) by the Pelz–Good asymptotic series (1976).
fn pelz_good_cdf(n: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let z = n.sqrt() * x;
    let (z2, z3, z4, z6) = (z * z, z * z * z, z.powi(4), z.powi(6));
    let qlog = -PI * PI / 8.0 / z2;
    if qlog < -708.0 {
        return 0.0;
    }
    let q = qlog.exp();
    let (pi2, pi4, pi6) = (PI * PI, PI.powi(4), PI.powi(6));
    let k1a = -z2;
    let k1b = pi2 / 4.0;
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powi(8);
    let mut k = [0.0f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for kk in (1..=maxk).rev() {
        let m = (2 * kk - 1) as f64;
        let (m2, m4, m6) = (m * m, m.powi(4), m.powi(6));
        let qpower = q.powi((8 * kk) as i32);
        let coeffs = [
            1.0,
            k1a + k1b * m2,
            k2a + k2b * m2 + k2c * m4,
            k3a + k3b * m2 + k3c * m4 + k3d * m6,
        ];
        for (kv, c) in k.iter_mut().zip(coeffs) {
            *kv = *kv * qpower + c;
        }
    }
    let div = [z, 6.0 * z4, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for (kv, d) in k.iter_mut().zip(div) {
        *kv = *kv * q * SQRT_2PI / d;
    }
    let q2 = (-pi2 / 2.0 / z2).exp();
    let sqrt3z = 3f64.sqrt() * z;
    let (mut k2extra, mut k3extra) = (0.0, 0.0);
    for kk in (1..=maxk).rev() {
        let kf = kk as f64;
        let ks2 = kf * kf;
        let qp = q2.powf(ks2);
        k2extra += ks2 * qp;
        let kspi = PI * kf;
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks2 * qp;
    }
    k[2] += k2extra * pi2 * SQRT_2PI / (-36.0 * z3);
    k[3] += k3extra * pi2 * SQRT_2PI / (216.0 * z6);
    for (i, kv) in k.iter_mut().enumerate() {
        *kv /= n.powf(i as f64 / 2.0);
    }
    k.iter().sum()
}

/// floor(n·x) and the remainder n·x − floor(n·x), exactly (the product's
/// rounding error is recovered with a fused multiply-add).
fn mod_nx(n: u64, x: f64) -> (i64, f64) {
    let nf = n as f64;
    let hi = nf * x;
    let lo = nf.mul_add(x, -hi);
    let mut fl = hi.floor();
    let mut alpha = (hi - fl) + lo;
    if alpha < 0.0 {
        fl -= 1.0;
        alpha += 1.0;
    }
    if alpha >= 1.0 {
        fl += 1.0;
        alpha -= 1.0;
    }
    (fl as i64, alpha)
}

/// ln C(n, v), accumulated by the caller; here a helper for the first term.
fn ln_binom_step(n: u64, j: u64) -> f64 {
    ((n - j) as f64 / (j as f64 + 1.0)).ln()
}

/// P(D_n^+ > x), the one-sided Smirnov tail (SciPy's `smirnov(n, x)`), by
/// the Birnbaum–Tingey sum.
pub fn smirnov_sf(n: u64, x: f64) -> f64 {
    if !(0.0..=1.0).contains(&x) || n == 0 {
        return f64::NAN;
    }
    if n == 1 {
        return 1.0 - x;
    }
    if x == 0.0 {
        return 1.0;
    }
    if x == 1.0 {
        return 0.0;
    }
    let nf = n as f64;
    let (nxfl, alpha) = mod_nx(n, x);
    let nx = nf * x;
    let mut n1mxfl = n as i64 - nxfl - i64::from(alpha != 0.0);
    let mut n1mxceil = n as i64 - nxfl;
    if alpha == 0.0 {
        n1mxfl -= 1;
        n1mxceil += 1;
    }
    if nxfl == 0 || (nxfl == 1 && alpha == 0.0) {
        let t = (1.0 + x).powf(nf - 1.0);
        let _ = nx;
        let cdf = x * t;
        return clip(1.0 - cdf);
    }
    if -2.0 * nf * x * x < MIN_LOG {
        return 0.0;
    }
    if nxfl >= n as i64 - 1 {
        return clip((1.0 - x).powf(nf));
    }
    if n > SMIRNOV_MAX_COMPUTE_N {
        let logp = -(6.0 * nf * x + 1.0).powi(2) / 18.0 / nf;
        return if logp < -std::f64::consts::LN_2 {
            logp.exp()
        } else {
            1.0 + logp.exp_m1()
        };
    }
    let n_upper_terms = n as i64 - n1mxceil + 1;
    let use_upper =
        (n_upper_terms <= 1 && x < 0.5) || (n >= 10 && n_upper_terms <= 3 && x <= 0.5 / nf.sqrt());
    // A_v = C(n, v)·(x + v/n)^(v−1)·(1 − x − v/n)^(n−v); the answer is x·ΣA_v.
    let term = |v: u64, ln_c: f64| -> f64 {
        let a = x + v as f64 / nf;
        let b = (n - v) as f64 / nf - x; // 1 − x − v/n
        let e_b = (n - v) as i32;
        let sign = if b < 0.0 && e_b % 2 == 1 { -1.0 } else { 1.0 };
        if b == 0.0 && e_b > 0 {
            return 0.0;
        }
        let ln = ln_c + (v as f64 - 1.0) * a.ln() + (n - v) as f64 * b.abs().ln();
        sign * ln.exp()
    };
    if use_upper {
        // cdf = x·Σ_{v=n down to n1mxceil} A_v.
        let mut sum = 0.0;
        let mut ln_c = 0.0; // C(n, n) = 1
        let mut v = n;
        loop {
            if (v as i64) < n1mxceil {
                break;
            }
            sum += term(v, ln_c);
            if v == 0 {
                break;
            }
            // C(n, v−1) = C(n, v)·v/(n − v + 1)
            ln_c += (v as f64 / (n - v + 1) as f64).ln();
            v -= 1;
        }
        clip(1.0 - x * sum)
    } else {
        let n_terms = (n1mxfl + 1).max(0) as u64;
        let (mut sum, mut ln_c) = (0.0f64, 0.0f64);
        for v in 0..n_terms {
            let a = term(v, ln_c);
            sum += a;
            if a == 0.0 && v > n / 2 {
                break;
            }
            if v + 1 < n_terms
                && a != 0.0
                && 4.0 * (n_terms - v) as f64 * a.abs() < f64::EPSILON * sum
            {
                break;
            }
            ln_c += ln_binom_step(n, v);
        }
        clip(x * sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_and_known_values() {
        assert_eq!(kstwo_sf(10, 0.0), 1.0);
        assert_eq!(kstwo_sf(10, 1.0), 0.0);
        assert_eq!(kstwo_sf(10, 0.04), 1.0);
        // Ruben–Gambino end: P(D_n > x) = 2(1 − x)^n for x >= 1 − 1/n.
        assert!((kstwo_sf(5, 0.9) - 2.0 * 0.1f64.powi(5)).abs() < 1e-15);
        assert!((smirnov_sf(1, 0.3) - 0.7).abs() < 1e-15);
    }
}

#[cfg(test)]
mod timing {
    /// The Smirnov sum runs over up to n(1 − x) terms where
    /// 2.2 <= n·x² < 370: the slowest branch.
    #[test]
    #[ignore]
    fn the_slowest_branch() {
        for n in [500_000u64, 1_000_000] {
            for s in [2.3, 10.0, 100.0, 369.0] {
                let x = (s / n as f64).sqrt();
                let start = std::time::Instant::now();
                let p = super::kstwo_sf(n, x);
                eprintln!("n={n} n·x²={s}: p={p:e} in {:?}", start.elapsed());
            }
        }
    }
}
