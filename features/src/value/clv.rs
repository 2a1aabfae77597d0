//! Customer lifetime value: the discounted spend of the purchases a model expects over the coming months.

use super::PurchaseModel;

/// The value over the next `months` months of a customer with summary `(x, t_x, T)` who spends
/// `spend_per_purchase` per purchase (e.g. [`super::GammaGamma::expected_spend`]), discounted at
/// `monthly_discount` per month:
///
/// `Σ_{k=1..months} (E[purchases by month k] − E[purchases by month k − 1]) · spend / (1 + d)^k`,
///
/// with `periods_per_month` periods of the summary in a month. This is the discounted cash flow of
/// Fader, Hardie & Lee ("RFM and CLV", 2005) as `lifetimes`' `customer_lifetime_value` computes it
/// (`lifetimes.utils._customer_lifetime_value`, version 0.11.3: month `k` ends at `k` × 30 periods for
/// daily summaries, `k` × 4.345 for weekly ones).
pub fn clv(
    model: &impl PurchaseModel,
    spend_per_purchase: f64,
    (x, t_x, t): (f64, f64, f64),
    months: u32,
    monthly_discount: f64,
    periods_per_month: f64,
) -> f64 {
    let purchases = discounted_purchases(
        |periods| model.expected_purchases(periods, x, t_x, t),
        months,
        monthly_discount,
        periods_per_month,
    );
    purchases * spend_per_purchase
}

/// The purchases of [`clv`] discounted month by month, the lifetime value per unit of spend:
/// `Σ_{k=1..months} (E(k · periods_per_month) − E((k − 1) · periods_per_month)) / (1 + d)^k` for the
/// cumulative expected purchases `E(t)` over the next `t` periods (`E(0) = 0`). The expected purchases of
/// BG/NBD factor as P(alive) times those of a customer known to be alive
/// ([`super::BgNbd::expected_purchases_if_alive`]), so one value of this serves every customer who
/// differs only in recency.
pub fn discounted_purchases(
    cumulative: impl Fn(f64) -> f64,
    months: u32,
    monthly_discount: f64,
    periods_per_month: f64,
) -> f64 {
    let mut value = 0.0;
    let mut previous = 0.0;
    let mut discount = 1.0;
    for month in 1..=months {
        let purchases = cumulative(f64::from(month) * periods_per_month);
        discount *= 1.0 + monthly_discount;
        value += (purchases - previous) / discount;
        previous = purchases;
    }
    value
}
