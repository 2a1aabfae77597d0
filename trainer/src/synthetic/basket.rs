//! What a synthetic order line holds: a product, its category and a number of units.
//!
//! The catalogue has [`PRODUCTS_PER_CATEGORY`] products in each of the [`CATEGORIES`]. A line falls in the
//! customer's main category with their `category_focus`, else in a category drawn by popularity (which may
//! again be the main one); within a category a few products sell far more than the rest (the chance of the
//! product of popularity rank `r` falls about as `1 / (r + 1.5)`). A line holds one unit plus a Poisson
//! number more, whose mean depends on the category.
//!
//! In the weeks before churn the basket narrows with the rest of the customer's activity: the share of
//! lines outside the main category falls to [`STRAY_FLOOR`] of its usual value at churn, and the units
//! beyond the first to [`EXTRA_UNITS_FLOOR`] of theirs, so the last orders are smaller and more
//! single-minded (visible in `distinct_categories_30d` against longer windows and in `units_per_order_90d`
//! against `units_per_order`).
//!
//! Every draw here comes from the customer's basket stream, so the rest of the data set does not depend
//! on them.

use super::customer::{CATEGORIES, Profile};
use rand::Rng;
use rand_distr::{Distribution, Poisson};

/// Products in each category. Products are numbered from 1 across the catalogue: category `c` (an index
/// into [`CATEGORIES`]) holds products `c × PRODUCTS_PER_CATEGORY + 1 ..= (c + 1) × PRODUCTS_PER_CATEGORY`.
pub const PRODUCTS_PER_CATEGORY: u32 = 50;
/// Share of lines outside the main category at churn, relative to the customer's usual share.
pub const STRAY_FLOOR: f64 = 0.4;
/// Mean units beyond the first on one line at churn, relative to the usual mean.
pub const EXTRA_UNITS_FLOOR: f64 = 0.3;

/// One order line's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// Product number, from 1 (see [`PRODUCTS_PER_CATEGORY`]).
    pub product: u32,
    /// Index into [`CATEGORIES`].
    pub category: usize,
    /// Units: positive for a purchase, negative for a return (the sign of the amount).
    pub quantity: i64,
}

impl Line {
    /// The category's name.
    pub fn category_name(&self) -> &'static str {
        CATEGORIES[self.category].0
    }
}

/// Draws the contents of one purchase line of `profile`. `decline_progress` is how far into the decline
/// before churn the order is: 0 before the decline window, rising to 1 at churn.
pub fn draw_line<R: Rng + ?Sized>(profile: &Profile, decline_progress: f64, rng: &mut R) -> Line {
    let stray_factor = 1.0 - (1.0 - STRAY_FLOOR) * decline_progress;
    let main_share = 1.0 - (1.0 - profile.category_focus) * stray_factor;
    let category = if rng.random::<f64>() < main_share {
        profile.main_category
    } else {
        pick_category(rng.random())
    };
    // Log-uniform over 1..=N+1: rank r with probability ln((r + 2) / (r + 1)) / ln(N + 1).
    let spread = f64::from(PRODUCTS_PER_CATEGORY + 1).powf(rng.random::<f64>());
    let rank = (spread as u32).clamp(1, PRODUCTS_PER_CATEGORY) - 1;
    let product = category as u32 * PRODUCTS_PER_CATEGORY + rank + 1;
    let extra_units_mean = CATEGORIES[category].2 * (1.0 - (1.0 - EXTRA_UNITS_FLOOR) * decline_progress);
    let extra_units = Poisson::<f64>::new(extra_units_mean).map_or(0.0, |d| d.sample(rng));
    Line {
        product,
        category,
        quantity: 1 + extra_units as i64,
    }
}

/// The category whose popularity interval holds `u` (uniform in [0, 1)).
fn pick_category(u: f64) -> usize {
    let mut running = 0.0;
    for (index, category) in CATEGORIES.iter().enumerate() {
        running += category.1;
        if u < running {
            return index;
        }
    }
    CATEGORIES.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::rng::CustomerStreams;

    fn profile(index: u64) -> (Profile, CustomerStreams) {
        let mut streams = CustomerStreams::new(9, index);
        let profile = Profile::draw(&mut streams.main, &mut streams.basket, index, 731);
        (profile, streams)
    }

    #[test]
    fn lines_hold_a_product_of_their_category_and_units() {
        let (profile, mut streams) = profile(1);
        let mut counts = vec![0u32; PRODUCTS_PER_CATEGORY as usize];
        for _ in 0..20_000 {
            let line = draw_line(&profile, 0.0, &mut streams.basket);
            assert!(line.quantity >= 1);
            let first = line.category as u32 * PRODUCTS_PER_CATEGORY + 1;
            assert!((first..first + PRODUCTS_PER_CATEGORY).contains(&line.product));
            counts[(line.product - first) as usize] += 1;
        }
        // Popularity skew: the best seller sells far more than the tenth, which sells more than the last.
        assert!(counts[0] > 4 * counts[9], "{counts:?}");
        assert!(counts[9] > 2 * counts[49], "{counts:?}");
    }

    #[test]
    fn focused_customers_stay_in_their_category_and_narrow_before_churn() {
        let main_share = |focus_above: bool, progress: f64| {
            let (mut main, mut all) = (0u32, 0u32);
            for index in 0..2_000 {
                let (profile, mut streams) = profile(index);
                let chosen = if focus_above {
                    profile.basket_narrowness > 1.0
                } else {
                    profile.basket_narrowness < -1.0
                };
                if !chosen {
                    continue;
                }
                for _ in 0..20 {
                    let line = draw_line(&profile, progress, &mut streams.basket);
                    main += u32::from(line.category == profile.main_category);
                    all += 1;
                }
            }
            f64::from(main) / f64::from(all)
        };
        let (narrow, broad) = (main_share(true, 0.0), main_share(false, 0.0));
        assert!(narrow > 0.8 && broad < 0.45, "narrow {narrow}, broad {broad}");
        let broad_at_churn = main_share(false, 1.0);
        assert!(broad_at_churn > broad + 0.2, "{broad} then {broad_at_churn}");
    }

    #[test]
    fn units_shrink_before_churn() {
        let mean_units = |progress: f64| {
            let (mut units, mut lines) = (0i64, 0i64);
            for index in 0..1_000 {
                let (profile, mut streams) = profile(index);
                for _ in 0..10 {
                    units += draw_line(&profile, progress, &mut streams.basket).quantity;
                    lines += 1;
                }
            }
            units as f64 / lines as f64
        };
        let (usual, at_churn) = (mean_units(0.0), mean_units(1.0));
        assert!((1.4..1.8).contains(&usual), "usual units per line {usual}");
        assert!(at_churn < usual - 0.25, "{usual} then {at_churn}");
    }
}
