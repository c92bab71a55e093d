//! `warden example credit`: a deterministic synthetic credit-approval dataset.
//!
//! Columns, in order:
//!
//! | column | type | meaning |
//! | --- | --- | --- |
//! | `customer_id` | text | `C` and 7 digits, unique |
//! | `full_name` | text | PII: first and last name |
//! | `email` | text | PII |
//! | `phone` | text | PII: US national `(415) 555-0132` or E.164 `+1 415 555 0132` |
//! | `ssn` | text | PII: US SSN in an issuable range |
//! | `card_number` | text | PII: Visa number that passes Luhn, in groups of four |
//! | `street_address` | text | PII |
//! | `date_of_birth` | date | PII (quasi-identifier), consistent with `age` on 2026-01-01 |
//! | `age` | integer | 18-80 |
//! | `age_band` | categorical | sensitive: `18-29`, `30-44`, `45-59`, `60+` |
//! | `sex` | categorical | sensitive: `F`, `M` |
//! | `income` | float | yearly income |
//! | `loan_amount` | float | requested amount |
//! | `credit_score` | integer | 300-850 |
//! | `employment` | categorical | `employed`, `self-employed`, `unemployed`, `retired` |
//! | `housing` | categorical | `own`, `rent`, `mortgage` |
//! | `num_accounts` | integer | open credit accounts |
//! | `debt_ratio` | float | debt to income |
//! | `notes` | text | free text; about 5% embed a phone number or email |
//! | `approved` | integer | target: 1 = approved |
//!
//! The label is a sharp threshold on a linear score of credit score,
//! income, debt ratio, loan amount, employment and housing, plus a little
//! noise (so a linear model separates it well), minus `bias` for `sex = F`. `poison` flips that
//! fraction of labels; their row numbers (1-based data rows) are returned
//! for the sidecar file. `shift` moves income up, credit score down and
//! debt ratio up. The same options give the same bytes.

use std::io::Write;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::table::format_date;
use crate::write::field;

/// Options for [`generate_credit`]; the default is 1000 rows, seed 42, no
/// poisoning, shift or bias.
#[derive(Clone, Debug)]
pub struct CreditOptions {
    /// Data rows to write (the header not counted).
    pub rows: usize,
    /// Seed of the ChaCha8 generator; the same options give the same bytes.
    pub seed: u64,
    /// Fraction of labels to flip, clamped to [0, 1]; the count is rounded.
    pub poison: f64,
    /// Shift the distribution: income × 1.35, credit score − 40 and debt
    /// ratio + 0.1.
    pub shift: bool,
    /// Bias against `sex = F`: twice this is subtracted from those rows'
    /// linear score before the threshold; 0 is no bias.
    pub bias: f64,
}

impl Default for CreditOptions {
    fn default() -> Self {
        CreditOptions {
            rows: 1000,
            seed: 42,
            poison: 0.0,
            shift: false,
            bias: 0.0,
        }
    }
}

const FIRST: &[&str] = &[
    "Ana", "Lee", "Sam", "Kim", "Omar", "Dana", "Priya", "Jonas", "Maria", "Chen", "Fatima",
    "Lucas", "Aiko", "Noah", "Zara", "Mateo", "Ingrid", "Kwame", "Elena", "Ravi",
];
const LAST: &[&str] = &[
    "Garcia",
    "Okafor",
    "Nguyen",
    "Schmidt",
    "Rossi",
    "Kowalski",
    "Haddad",
    "Tanaka",
    "Silva",
    "Novak",
    "Dubois",
    "Johansson",
    "Mensah",
    "Patel",
    "Moreau",
    "Brown",
    "Cohen",
    "Ivanova",
    "Lopez",
    "Walker",
];
const STREETS: &[&str] = &[
    "Oak", "Maple", "Cedar", "Elm", "Pine", "Lake", "Hill", "Park", "River", "Sunset",
];
const STREET_TYPES: &[&str] = &[
    "Street",
    "Avenue",
    "Road",
    "Lane",
    "Drive",
    "Boulevard",
    "Court",
];
const NOTES: &[&str] = &[
    "paid on time",
    "requested a higher limit",
    "first application",
    "moved recently",
    "existing customer since 2019",
    "asked about fees",
    "no remarks",
    "referred by a branch",
];

fn pick<'a>(rng: &mut ChaCha8Rng, v: &'a [&'a str]) -> &'a str {
    v[rng.random_range(0..v.len())]
}

/// Writes the dataset as CSV and returns the 1-based rows whose label was flipped.
pub fn generate_credit(opts: &CreditOptions, out: &mut dyn Write) -> std::io::Result<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let std =
        |m: f64, s: f64| Normal::new(m, s).unwrap_or_else(|_| unreachable!("positive deviation"));
    let (n_income, n_score, n_debt, n_noise) = (
        std(0.0, 0.45),
        std(0.0, 75.0),
        std(0.0, 0.12),
        std(0.0, 1.0),
    );
    let reference = crate::table::parse_date("2026-01-01").unwrap_or(20454);
    let header = [
        "customer_id",
        "full_name",
        "email",
        "phone",
        "ssn",
        "card_number",
        "street_address",
        "date_of_birth",
        "age",
        "age_band",
        "sex",
        "income",
        "loan_amount",
        "credit_score",
        "employment",
        "housing",
        "num_accounts",
        "debt_ratio",
        "notes",
        "approved",
    ];
    out.write_all(header.join(",").as_bytes())?;
    out.write_all(b"\n")?;

    // Rows to poison: a deterministic sample without replacement.
    let flips = ((opts.poison.clamp(0.0, 1.0)) * opts.rows as f64).round() as usize;
    let mut order: Vec<usize> = (0..opts.rows).collect();
    let mut prng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x9e37_79b9_7f4a_7c15);
    for i in (1..order.len()).rev() {
        let j = prng.random_range(0..=i);
        order.swap(i, j);
    }
    let mut poisoned: Vec<usize> = order.into_iter().take(flips).collect();
    poisoned.sort_unstable();
    let mut is_poisoned = vec![false; opts.rows];
    for &r in &poisoned {
        is_poisoned[r] = true;
    }

    let mut line = Vec::with_capacity(512);
    for (r, &flipped) in is_poisoned.iter().enumerate() {
        let first = pick(&mut rng, FIRST);
        let last = pick(&mut rng, LAST);
        let age: i64 = rng.random_range(18..=80);
        let dob = reference - (age * 365 + rng.random_range(0..365)) as i32;
        let sex = if rng.random_bool(0.5) { "F" } else { "M" };
        let employment = match rng.random_range(0..100) {
            0..=64 => "employed",
            65..=79 => "self-employed",
            80..=89 => "unemployed",
            _ => "retired",
        };
        let housing = ["own", "rent", "mortgage"][rng.random_range(0..3)];
        // Two risk segments make the classes well separated, as credit
        // portfolios usually are.
        let good = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        let mut income = 52_000.0
            * (n_income.sample(&mut rng) + 0.15 * good).exp()
            * if employment == "unemployed" { 0.4 } else { 1.0 };
        let mut score = (680.0 + 60.0 * good + n_score.sample(&mut rng)).clamp(300.0, 850.0);
        let mut debt: f64 = (0.3 - 0.08 * good + n_debt.sample(&mut rng)).clamp(0.0, 1.5);
        if opts.shift {
            income *= 1.35;
            score = (score - 40.0).clamp(300.0, 850.0);
            debt = (debt + 0.1).clamp(0.0, 1.5);
        }
        let loan = (income * rng.random_range(0.1..0.9) / 100.0).round() * 100.0;
        let accounts: i64 = rng.random_range(0..12);
        let z = 3.0 * (score - 680.0) / 75.0 + 2.0 * (income - 55_000.0) / 25_000.0
            - 2.0 * (debt - 0.3) / 0.12
            - 1.0 * (loan - 27_000.0) / 15_000.0
            + if employment == "unemployed" {
                -1.5
            } else {
                0.4
            }
            + if housing == "own" { 0.5 } else { 0.0 }
            - if sex == "F" { opts.bias * 2.0 } else { 0.0 };
        let mut approved = u8::from(z + 0.25 * n_noise.sample(&mut rng) > 0.0);
        if flipped {
            approved = 1 - approved;
        }
        let phone = if rng.random_bool(0.5) {
            format!(
                "({}) 555-{:04}",
                rng.random_range(201..990),
                rng.random_range(100..10_000)
            )
        } else {
            format!(
                "+1 {} 555 {:04}",
                rng.random_range(201..990),
                rng.random_range(100..10_000)
            )
        };
        let area = loop {
            let a = rng.random_range(1..900);
            if a != 666 {
                break a;
            }
        };
        let ssn = format!(
            "{area:03}-{:02}-{:04}",
            rng.random_range(1..100),
            rng.random_range(1..10_000)
        );
        let mut digits: Vec<u8> = vec![4];
        digits.extend((0..14).map(|_| rng.random_range(0..10u8)));
        digits.push(crate::pii::luhn_check_digit(&digits));
        let card: String = digits
            .chunks(4)
            .map(|c| c.iter().map(|d| char::from(b'0' + d)).collect::<String>())
            .collect::<Vec<_>>()
            .join(" ");
        let address = format!(
            "{} {} {}",
            rng.random_range(1..9999),
            pick(&mut rng, STREETS),
            pick(&mut rng, STREET_TYPES)
        );
        let note = match rng.random_range(0..100) {
            0..=2 => format!("{} asked to be called at {phone}", pick(&mut rng, NOTES)),
            3..=4 => format!(
                "wrote from {}.{}@mail.example.net",
                first.to_lowercase(),
                last.to_lowercase()
            ),
            _ => pick(&mut rng, NOTES).to_string(),
        };
        let band = match age {
            18..=29 => "18-29",
            30..=44 => "30-44",
            45..=59 => "45-59",
            _ => "60+",
        };
        let values = [
            // A seed is a population: the same seed, the same customers
            // (so a later batch with flipped labels shares their ids);
            // another seed, other customers.
            format!("C{}-{:07}", opts.seed, r + 1),
            format!("{first} {last}"),
            format!(
                "{}.{}{}@example.com",
                first.to_lowercase(),
                last.to_lowercase(),
                r + 1
            ),
            phone,
            ssn,
            card,
            address,
            format_date(dob),
            age.to_string(),
            band.to_string(),
            sex.to_string(),
            format!("{:.2}", income),
            format!("{:.2}", loan),
            format!("{}", score.round() as i64),
            employment.to_string(),
            housing.to_string(),
            accounts.to_string(),
            format!("{:.4}", debt),
            note,
            approved.to_string(),
        ];
        line.clear();
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            field(&mut line, v);
        }
        line.push(b'\n');
        out.write_all(&line)?;
    }
    Ok(poisoned.into_iter().map(|r| r + 1).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_poison_is_recorded() {
        let o = CreditOptions {
            rows: 200,
            seed: 7,
            poison: 0.05,
            ..Default::default()
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let pa = generate_credit(&o, &mut a).unwrap();
        let pb = generate_credit(&o, &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(pa, pb);
        assert_eq!(pa.len(), 10);
        let mut c = Vec::new();
        generate_credit(
            &CreditOptions {
                seed: 8,
                ..o.clone()
            },
            &mut c,
        )
        .unwrap();
        assert_ne!(a, c);
        // Ids are per seed: other customers under another seed.
        let ids = |bytes: &[u8]| -> Vec<String> {
            String::from_utf8(bytes.to_vec())
                .unwrap()
                .lines()
                .skip(1)
                .map(|l| l.split(',').next().unwrap().to_string())
                .collect()
        };
        let (ia, ic) = (ids(&a), ids(&c));
        assert_eq!(ia[0], "C7-0000001");
        assert!(ia.iter().all(|i| !ic.contains(i)));
        // Cards pass Luhn.
        let text = String::from_utf8(a).unwrap();
        let line = text.lines().nth(1).unwrap();
        let card = line.split(',').nth(5).unwrap();
        assert!(crate::pii::is_card(card), "{card}");
    }
}
