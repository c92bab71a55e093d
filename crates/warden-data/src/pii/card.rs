//! Payment card numbers: the Luhn checksum and the issuer (IIN) ranges with
//! the lengths each issuer uses.
//!
//! The ranges follow the published IIN tables (ISO/IEC 7812 as listed by the
//! card networks): Visa, Mastercard (51-55 and 2221-2720), American Express,
//! Discover, JCB (3528-3589, its 16-digit `35` series and the 15-digit
//! 1800/2131 numbers), Diners Club (300-305, 3095, 36, 38-39), UnionPay (62,
//! 81), Maestro (50 and 56-69, 12 to 19 digits), Mir (2200-2204), RuPay
//! (81-82) and Troy (9792). A number counts only with a known prefix, a
//! length that issuer uses and a valid Luhn check digit, so nine in ten
//! random digit strings of a card's shape are refused.

/// Luhn sum of `digits`, doubling every second digit from the right
/// (starting with the rightmost when `check_digit_missing`).
fn luhn_sum(digits: &[u8], check_digit_missing: bool) -> u32 {
    let first_doubled = usize::from(!check_digit_missing);
    digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let v = u32::from(*d);
            if i % 2 == first_doubled {
                if v * 2 > 9 { v * 2 - 9 } else { v * 2 }
            } else {
                v
            }
        })
        .sum()
}

/// The Luhn checksum used by payment cards.
pub fn luhn_ok(digits: &[u8]) -> bool {
    !digits.is_empty() && luhn_sum(digits, false).is_multiple_of(10)
}

/// The Luhn check digit to append to `digits`.
pub fn luhn_check_digit(digits: &[u8]) -> u8 {
    ((10 - luhn_sum(digits, true) % 10) % 10) as u8
}

/// The issuer whose IIN range starts `d` and who issues numbers of its
/// length, if any.
pub(crate) fn card_issuer(d: &[u8]) -> Option<&'static str> {
    let n = d.len();
    let prefix = |k: usize| -> u32 { d.iter().take(k).fold(0u32, |a, &x| a * 10 + u32::from(x)) };
    let (p1, p2, p3, p4) = (prefix(1), prefix(2), prefix(3), prefix(4));
    let p6 = prefix(6);
    let within = |lo: usize, hi: usize| (lo..=hi).contains(&n);
    let issuer = if p1 == 4 && matches!(n, 13 | 16 | 19) {
        "visa"
    } else if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && n == 16 {
        "mastercard"
    } else if matches!(p2, 34 | 37) && n == 15 {
        "amex"
    } else if (p4 == 6011
        || p2 == 65
        || (644..=649).contains(&p3)
        || (622_126..=622_925).contains(&p6))
        && within(16, 19)
    {
        "discover"
    } else if (p2 == 35 && within(16, 19)) || (matches!(p4, 1800 | 2131) && n == 15) {
        "jcb"
    } else if (((300..=305).contains(&p3) || p4 == 3095 || p2 == 36) && within(14, 19))
        || (matches!(p2, 38 | 39) && within(14, 19))
    {
        "diners"
    } else if p2 == 62 && within(16, 19) {
        "unionpay"
    } else if (2200..=2204).contains(&p4) && within(16, 19) {
        "mir"
    } else if matches!(p2, 81 | 82) && within(16, 19) {
        "rupay"
    } else if p4 == 9792 && n == 16 {
        "troy"
    } else if (p2 == 50 || (56..=69).contains(&p2)) && within(12, 19) {
        "maestro"
    } else {
        return None;
    };
    Some(issuer)
}

/// A payment card number: 12-19 digits, written together or in groups
/// separated by one kind of separator (space or dash), a known issuer
/// prefix and length, and a valid Luhn checksum.
pub fn is_card(s: &str) -> bool {
    let mut digits = Vec::with_capacity(19);
    let mut sep: Option<u8> = None;
    let mut last_was_sep = true;
    for b in s.bytes() {
        match b {
            b'0'..=b'9' => {
                digits.push(b - b'0');
                last_was_sep = false;
            }
            b' ' | b'-' => {
                if last_was_sep || sep.is_some_and(|x| x != b) {
                    return false;
                }
                sep = Some(b);
                last_was_sep = true;
            }
            _ => return false,
        }
    }
    !last_was_sep
        && (12..=19).contains(&digits.len())
        && card_issuer(&digits).is_some()
        && luhn_ok(&digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_lengths_and_luhn() {
        for ok in [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5500005555555559",
            "378282246310005",
            "6011111111111117",
            "3530111333300000",
            // JCB 15-digit (1800, 2131) and its wider 16-digit 35 series.
            "180017974921062",
            "2131 2476 3542 686",
            "3500000000000009",
            // Maestro, 12 digits.
            "676325899133",
            "581387310781",
            // Diners 14 digits, Mir, UnionPay 19 digits.
            "30337887623288",
            "2200000000000004",
            "6200000000000000000",
        ] {
            assert!(is_card(ok), "{ok}");
        }
        for bad in [
            "4111 1111 1111 1112",
            "9111111111111111",
            "411111111111",
            "4111 1111 1111 111a",
            "1234567890123456",
            "4111 1111-1111 1111",
            "4111  1111 1111 1111",
            // Visa is never 14 digits; Amex never 16.
            "41111111111114",
            "3782822463100003",
        ] {
            assert!(!is_card(bad), "{bad}");
        }
    }

    #[test]
    fn check_digits_make_valid_numbers() {
        let payload = [4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        let d = luhn_check_digit(&payload);
        assert_eq!(d, 1);
        let mut full = payload.to_vec();
        full.push(d);
        assert!(luhn_ok(&full));
    }
}
