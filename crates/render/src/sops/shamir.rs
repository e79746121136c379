//! Shamir's secret sharing as sops uses it for `key_groups` (its fork of Vault's
//! `shamir` package): each part is the secret's bytes as the values at one point of
//! random polynomials over GF(2^8) (the AES field), the point's x-coordinate appended as
//! the last byte; any `threshold` parts give the secret back by Lagrange interpolation
//! at x = 0.

/// The secret `parts` share (`shamir.Combine`), with its errors.
pub(crate) fn combine(parts: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    if parts.len() < 2 {
        return Err("less than two parts cannot be used to reconstruct the secret".into());
    }
    let len = parts[0].len();
    if len < 2 {
        return Err("parts must be at least two bytes".into());
    }
    if parts.iter().any(|p| p.len() != len) {
        return Err("all parts must be the same length".into());
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err("duplicate part detected".into());
        }
    }
    Ok((0..len - 1)
        .map(|byte| {
            let ys: Vec<u8> = parts.iter().map(|p| p[byte]).collect();
            value_at_zero(&xs, &ys)
        })
        .collect())
}

/// The polynomial through `(xs[i], ys[i])` evaluated at 0.
fn value_at_zero(xs: &[u8], ys: &[u8]) -> u8 {
    let mut result = 0;
    for (i, (&xi, &yi)) in xs.iter().zip(ys).enumerate() {
        let mut basis = 1;
        for (j, &xj) in xs.iter().enumerate() {
            if i != j {
                // (0 - xj) / (xi - xj); subtraction is addition (xor) in GF(2^8).
                basis = mult(basis, div(xj, xi ^ xj));
            }
        }
        result ^= mult(basis, yi);
    }
    result
}

/// Multiplication modulo X^8 + X^4 + X^3 + X + 1.
fn mult(a: u8, b: u8) -> u8 {
    let (mut a, mut b, mut product) = (a, b, 0u8);
    while b != 0 {
        if b & 1 != 0 {
            product ^= a;
        }
        let carry = a & 0x80 != 0;
        a <<= 1;
        if carry {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    product
}

/// `a / b` as `a * b^254` (`b^255 = 1`); `b` is never zero here (the x-coordinates
/// are distinct).
fn div(a: u8, b: u8) -> u8 {
    let mut inverse = 1;
    for _ in 0..254 {
        inverse = mult(inverse, b);
    }
    mult(a, inverse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_is_aes() {
        // FIPS-197 §4.2: {57} • {83} = {c1}, {57} • {13} = {fe}.
        assert_eq!(mult(0x57, 0x83), 0xc1);
        assert_eq!(mult(0x57, 0x13), 0xfe);
        assert_eq!(div(mult(0x57, 0x83), 0x83), 0x57);
    }

    #[test]
    fn bad_parts_are_refused_in_sops_words() {
        assert_eq!(
            combine(&[vec![1, 2]]).unwrap_err(),
            "less than two parts cannot be used to reconstruct the secret"
        );
        assert_eq!(
            combine(&[vec![1, 2], vec![1, 2, 3]]).unwrap_err(),
            "all parts must be the same length"
        );
        assert_eq!(
            combine(&[vec![1, 7], vec![2, 7]]).unwrap_err(),
            "duplicate part detected"
        );
    }
}
