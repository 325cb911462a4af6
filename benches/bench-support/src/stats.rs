//! Order statistics of measured samples: [`quantile`] (nearest rank), [`median`] and
//! [`paired_ratio`]. Empty input gives NaN rather than a panic, so a report of a run that
//! measured nothing shows `NaN` instead of failing.

/// The `q` quantile (`q` clamped to 0 ..= 1) of `values` by nearest rank: the value at
/// position `round(q * (n - 1))` of the sorted values. NaN when there are none.
///
/// ```
/// use bench_support::stats::quantile;
///
/// let v = [5.0, 1.0, 4.0, 2.0, 3.0];
/// assert_eq!(quantile(&v, 0.0), 1.0);
/// assert_eq!(quantile(&v, 0.25), 2.0);
/// assert_eq!(quantile(&v, 0.99), 5.0);
/// assert!(quantile(&[], 0.5).is_nan());
/// ```
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank]
}

/// The median of `values`: the middle value, or the mean of the two middle values when their
/// number is even. NaN when there are none.
///
/// ```
/// use bench_support::stats::median;
///
/// assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(median(&[40.0, 10.0, 30.0, 20.0]), 25.0);
/// assert!(median(&[]).is_nan());
/// ```
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The median of `a[i] / b[i]`: the ratio of two things measured in the same rounds, so that
/// each round's noise hits both sides. Pairs beyond the shorter slice are ignored; NaN when
/// there are none.
///
/// ```
/// use bench_support::stats::paired_ratio;
///
/// assert_eq!(paired_ratio(&[2.0, 10.0, 3.0], &[1.0, 4.0, 3.0]), 2.0);
/// assert!(paired_ratio(&[], &[]).is_nan());
/// ```
pub fn paired_ratio(a: &[f64], b: &[f64]) -> f64 {
    let ratios: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    median(&ratios)
}

/// The arithmetic mean of `values`; NaN when there are none.
///
/// ```
/// assert_eq!(bench_support::stats::mean(&[1.0, 2.0, 6.0]), 3.0);
/// ```
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 1.0), 5.0);
        assert_eq!(quantile(&v, 7.0), 5.0);
        assert_eq!(quantile(&v, -1.0), 1.0);
        assert_eq!(quantile(&[1.0, 2.0], 0.5), 2.0);
    }

    #[test]
    fn medians_average_the_middle_pair() {
        assert_eq!(median(&[5.0, 1.0, 4.0, 2.0, 3.0]), 3.0);
        assert_eq!(median(&[1.0, 2.0]), 1.5);
        assert_eq!(median(&[7.0]), 7.0);
        assert_eq!(median(&[f64::INFINITY, 1.0, 2.0]), 2.0);
    }

    #[test]
    fn paired_ratios_and_means() {
        assert_eq!(paired_ratio(&[2.0, 4.0, 9.0, 1.0], &[1.0, 1.0, 3.0]), 3.0);
        assert!(mean(&[]).is_nan());
    }
}
