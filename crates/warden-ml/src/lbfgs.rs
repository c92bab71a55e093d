//! Limited-memory BFGS with a backtracking (Armijo) line search, for the
//! smooth convex objective of L2-regularised logistic regression.
//!
//! Written here because the Rust optimisation crates that provide it
//! (argmin and its ecosystem) bring a large dependency graph for ~100 lines
//! of textbook code (Nocedal and Wright, algorithm 7.4 and 7.5).

/// Stopping rules.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The most iterations (line searches) to run.
    pub max_iter: usize,
    /// How many recent (step, gradient change) pairs approximate the inverse Hessian.
    pub memory: usize,
    /// Stop when every gradient component is at most this.
    pub gtol: f64,
    /// Stop when the relative decrease of the objective is at most this.
    pub ftol: f64,
}

impl Default for Options {
    fn default() -> Self {
        // The same tolerances as SciPy's L-BFGS-B defaults that
        // scikit-learn uses (pgtol 1e-4 is scikit-learn's `tol`).
        Options {
            max_iter: 100,
            memory: 10,
            gtol: 1e-4,
            ftol: 2.220446049250313e-9,
        }
    }
}

/// How a minimisation ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    /// The iterations run.
    pub iterations: usize,
    /// Whether the gradient (`gtol`) or relative-decrease (`ftol`) test was met;
    /// false if `max_iter` ran out first or the line search found no decrease.
    pub converged: bool,
    /// The objective at the returned point.
    pub value: f64,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimises `f` from `x` (updated in place). `f(x, grad)` returns the
/// objective and writes its gradient; `on_iter(k)` is told each iteration.
pub fn minimize(
    x: &mut [f64],
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
    opts: Options,
    mut on_iter: impl FnMut(usize),
) -> Outcome {
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut fx = f(x, &mut g);
    let mut hist: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = Default::default();
    let mut d = vec![0.0; n];
    let mut xn = vec![0.0; n];
    let mut gn = vec![0.0; n];
    let mut alpha = vec![0.0; opts.memory];
    for k in 0..opts.max_iter {
        if g.iter().all(|v| v.abs() <= opts.gtol) {
            return Outcome {
                iterations: k,
                converged: true,
                value: fx,
            };
        }
        // Two-loop recursion: d = -H g.
        d.iter_mut().zip(&g).for_each(|(d, g)| *d = -g);
        for (i, (s, y, rho)) in hist.iter().enumerate().rev() {
            alpha[i] = rho * dot(s, &d);
            d.iter_mut().zip(y).for_each(|(d, y)| *d -= alpha[i] * y);
        }
        let gamma = match hist.back() {
            Some((s, y, _)) => dot(s, y) / dot(y, y),
            None => 1.0 / g.iter().map(|v| v.abs()).sum::<f64>().max(1.0),
        };
        d.iter_mut().for_each(|v| *v *= gamma);
        for (i, (s, y, rho)) in hist.iter().enumerate() {
            let beta = rho * dot(y, &d);
            d.iter_mut()
                .zip(s)
                .for_each(|(d, s)| *d += (alpha[i] - beta) * s);
        }
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction: restart from steepest descent.
            hist.clear();
            d.iter_mut().zip(&g).for_each(|(d, g)| *d = -g);
            slope = dot(&g, &d);
        }
        let mut t = 1.0;
        let mut accepted = None;
        for _ in 0..60 {
            xn.iter_mut()
                .zip(x.iter().zip(&d))
                .for_each(|(xn, (x, d))| *xn = x + t * d);
            let fnew = f(&xn, &mut gn);
            if fnew.is_finite() && fnew <= fx + 1e-4 * t * slope {
                accepted = Some(fnew);
                break;
            }
            t *= 0.5;
        }
        on_iter(k + 1);
        let Some(fnew) = accepted else {
            // No decrease along the direction: as close as we can get.
            return Outcome {
                iterations: k + 1,
                converged: false,
                value: fx,
            };
        };
        let s: Vec<f64> = xn.iter().zip(x.iter()).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        x.copy_from_slice(&xn);
        g.copy_from_slice(&gn);
        let decrease = (fx - fnew) / fx.abs().max(fnew.abs()).max(1.0);
        fx = fnew;
        if sy > 1e-12 * dot(&y, &y).sqrt() * dot(&s, &s).sqrt() {
            if hist.len() == opts.memory {
                hist.pop_front();
            }
            hist.push_back((s, y, 1.0 / sy));
        }
        if decrease <= opts.ftol {
            return Outcome {
                iterations: k + 1,
                converged: true,
                value: fx,
            };
        }
    }
    Outcome {
        iterations: opts.max_iter,
        converged: g.iter().all(|v| v.abs() <= opts.gtol),
        value: fx,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_rosenbrock_valley() {
        let mut x = [-1.2, 1.0];
        let out = minimize(
            &mut x,
            |x, g| {
                let (a, b) = (x[0], x[1]);
                g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
                g[1] = 200.0 * (b - a * a);
                (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
            },
            Options {
                max_iter: 500,
                gtol: 1e-8,
                ftol: 0.0,
                ..Options::default()
            },
            |_| {},
        );
        assert!(out.converged, "{out:?}");
        assert!(
            (x[0] - 1.0).abs() < 1e-5 && (x[1] - 1.0).abs() < 1e-5,
            "{x:?}"
        );
    }
}
