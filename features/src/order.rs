//! Floats ordered as integers: [`f64::total_cmp`]'s order is the order of the integers [`total_order`]
//! maps floats to, and sorting or selecting among those integers is cheaper than calling a comparison
//! function on floats.

/// The integer whose order among such integers is `value`'s order under [`f64::total_cmp`]: the bits,
/// with those after the sign flipped for negative values.
pub(crate) fn total_order(value: f64) -> i64 {
    let bits = value.to_bits() as i64;
    bits ^ (((bits >> 63) as u64) >> 1) as i64
}

/// The float whose [`total_order`] is `key`.
pub(crate) fn from_total_order(key: i64) -> f64 {
    f64::from_bits((key ^ (((key >> 63) as u64) >> 1) as i64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_order_as_floats_do() {
        let values = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -f64::MIN_POSITIVE,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            1.0,
            7.25,
            f64::INFINITY,
        ];
        for pair in values.windows(2) {
            assert!(total_order(pair[0]) < total_order(pair[1]), "{pair:?}");
        }
        for value in values {
            assert_eq!(from_total_order(total_order(value)).to_bits(), value.to_bits());
        }
    }
}
