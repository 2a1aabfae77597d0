//! Who a synthetic customer is: static attributes and the latent traits that drive their behaviour.
//!
//! The churn mechanism is planted here. Each customer gets a yearly churn hazard from things a model can
//! observe, directly (plan, acquisition channel, age) or through behaviour (spend level, purchase rate, a
//! hidden dissatisfaction that shows as support tickets and complaints, and how narrow their basket is),
//! plus unobserved noise. Their churn time is exponential with that hazard, counted from signup; it may
//! fall after the end of the period, in which case the customer is still active when the data stop.
//!
//! The basket effect is an interaction: a customer whose purchases concentrate in their main category
//! churns more on the basic plan (someone who came for one need leaves once it is met) and less on the
//! standard and premium plans (a specialist who has found their shop), by [`NARROW_BASKET_EFFECT_BY_PLAN`]
//! (+0.35 and −0.5) per standard deviation of narrowness. Over all plans the two about cancel out, so a model sees the effect only
//! by combining the plan with the basket features (such as `top_category_spend_share`), which a linear
//! model on those features cannot do.
//!
//! The basket traits (main category, narrowness) are drawn from the customer's basket stream, apart from
//! the stream of everything else, and a hazard only scales the exponential lifetime drawn from the main
//! stream: every other draw, and so every row of a customer whose hazard the basket does not change, is as
//! it was before the basket existed.

use rand::Rng;
use rand_distr::{Distribution, Exp, Gamma, LogNormal, Normal};

/// Plans, their share of signups, and their effect on the log churn hazard.
pub const PLANS: [(&str, f64, f64); 3] = [
    ("basic", 0.50, 0.35),
    ("standard", 0.35, 0.0),
    ("premium", 0.15, -0.55),
];

/// Regions and their share of signups; region has no effect on churn (a distractor for models).
pub const REGIONS: [(&str, f64); 4] = [
    ("north_america", 0.40),
    ("europe", 0.30),
    ("asia_pacific", 0.20),
    ("latin_america", 0.10),
];

/// Acquisition channels, their share of signups, and their effect on the log churn hazard.
pub const CHANNELS: [(&str, f64, f64); 6] = [
    ("organic", 0.30, 0.0),
    ("paid_search", 0.25, 0.30),
    ("social", 0.15, 0.45),
    ("referral", 0.12, -0.45),
    ("email", 0.10, -0.10),
    ("affiliate", 0.08, 0.25),
];

/// Product categories, their share of the catalogue's popularity (the chance that a line outside a
/// customer's main category falls in them, and that a customer's main category is them), and the mean
/// number of units beyond the first on one line (groceries come by the dozen, electronics one at a time).
pub const CATEGORIES: [(&str, f64, f64); 8] = [
    ("apparel", 0.20, 0.4),
    ("home", 0.15, 0.3),
    ("beauty", 0.14, 0.8),
    ("grocery", 0.13, 1.5),
    ("electronics", 0.12, 0.1),
    ("books", 0.10, 0.3),
    ("sports", 0.09, 0.3),
    ("toys", 0.07, 0.5),
];

/// Effect on the log churn hazard of one standard deviation of basket narrowness, by plan (in the order of
/// [`PLANS`]): narrow baskets raise the hazard on the basic plan and lower it on the others. The sizes are
/// chosen so that, with the plans' shares and the basic plan's higher base hazard, the mean hazard hardly
/// depends on narrowness over all plans (within about 5%): the effect is invisible to a model that does
/// not combine plan and basket.
pub const NARROW_BASKET_EFFECT_BY_PLAN: [f64; 3] = [0.35, -0.5, -0.5];
/// Log-odds of a line falling in the customer's main category, for a customer of average narrowness
/// (a share of about 0.57).
const FOCUS_LOG_ODDS: f64 = 0.3;
/// Change of those log-odds per standard deviation of narrowness: the 5% broadest customers buy about a
/// fifth of their lines in their main category, the 5% narrowest about nine lines in ten.
const FOCUS_LOG_ODDS_PER_NARROWNESS: f64 = 1.0;

/// Yearly churn hazard of a reference customer (standard plan, organic, age 41, typical spend and rate).
const BASE_YEARLY_HAZARD: f64 = 0.2;
/// Shape of the gamma mixing distribution of purchase rates: below 1, so a few customers buy very often.
const PURCHASE_RATE_SHAPE: f64 = 0.7;
/// Median amount of one order line for a standard-plan customer.
const MEDIAN_LINE_AMOUNT: f64 = 30.0;
/// Share of customers whose age is unknown.
const AGE_MISSING_SHARE: f64 = 0.03;

/// Static attributes and latent traits of one customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Position of the customer in the output, from 0.
    pub index: u64,
    /// Day of signup, counted from the start of the period.
    pub signup_day: u32,
    /// Index into [`PLANS`].
    pub plan: usize,
    /// Index into [`REGIONS`].
    pub region: usize,
    /// Index into [`CHANNELS`].
    pub channel: usize,
    /// Age in years, `None` when unknown.
    pub age: Option<i64>,
    /// Purchase rate relative to the population (mean about 1, heavy right tail).
    pub purchase_rate: f64,
    /// Median amount of one order line.
    pub spend_level: f64,
    /// Login rate relative to the population.
    pub engagement: f64,
    /// Hidden dissatisfaction (standard normal): raises support tickets, complaints and the churn hazard.
    pub dissatisfaction: f64,
    /// Index into [`CATEGORIES`] of the category most of the customer's lines fall in.
    pub main_category: usize,
    /// How narrow the customer's basket is (standard normal): sets [`Self::category_focus`] and, with
    /// the plan, the churn hazard (see [`NARROW_BASKET_EFFECT_BY_PLAN`]).
    pub basket_narrowness: f64,
    /// Share of the customer's lines in their main category (outside the decline before churn).
    pub category_focus: f64,
    /// Yearly churn hazard.
    pub yearly_hazard: f64,
    /// Simulation time (days since the start) at which the customer churns; may lie after the period.
    pub churn_time: f64,
}

/// Index of a category drawn with the given weights (which sum to about 1).
fn pick<R: Rng + ?Sized>(rng: &mut R, weights: impl Iterator<Item = f64>) -> usize {
    let u: f64 = rng.random();
    let mut running = 0.0;
    let mut last = 0;
    for (index, weight) in weights.enumerate() {
        running += weight;
        last = index;
        if u < running {
            return index;
        }
    }
    last
}

impl Profile {
    /// Draws customer `index`, who signs up within a period of `days` days. More customers sign up early in
    /// the period than late (density falling linearly to zero), as for a business that has stopped growing.
    /// The basket traits come from `basket_rng`, everything else from `rng`.
    ///
    /// This must be the first use of both of the customer's generators: the calibration pass draws
    /// profiles alone and has to see the same customers as the full simulation.
    pub fn draw<R: Rng + ?Sized, B: Rng + ?Sized>(
        rng: &mut R,
        basket_rng: &mut B,
        index: u64,
        days: usize,
    ) -> Self {
        let main_category = pick(basket_rng, CATEGORIES.iter().map(|c| c.1));
        let basket_narrowness = Normal::<f64>::new(0.0, 1.0).map_or(0.0, |d| d.sample(basket_rng));
        let focus_log_odds = FOCUS_LOG_ODDS + FOCUS_LOG_ODDS_PER_NARROWNESS * basket_narrowness;
        let category_focus = 1.0 / (1.0 + (-focus_log_odds).exp());

        let u: f64 = rng.random();
        let signup_fraction = 1.0 - (1.0 - u).sqrt();
        let signup_day = ((signup_fraction * days as f64) as u32).min(days.saturating_sub(1) as u32);

        let plan = pick(rng, PLANS.iter().map(|p| p.1));
        let region = pick(rng, REGIONS.iter().map(|r| r.1));
        let channel = pick(rng, CHANNELS.iter().map(|c| c.1));
        let age_known = rng.random::<f64>() >= AGE_MISSING_SHARE;
        let age_draw = Normal::<f64>::new(41.0, 13.0).map_or(41.0, |d| d.sample(rng));
        let age = age_known.then(|| age_draw.round().clamp(18.0, 90.0) as i64);

        let plan_rate = [0.85, 1.0, 1.3][plan];
        let rate_draw =
            Gamma::<f64>::new(PURCHASE_RATE_SHAPE, 1.0 / PURCHASE_RATE_SHAPE).map_or(1.0, |d| d.sample(rng));
        let purchase_rate = rate_draw * plan_rate;
        let plan_spend = [0.0, 0.15, 0.4][plan];
        let age_spend = age.map_or(0.0, |a| 0.005 * (a - 41) as f64);
        let spend_level = LogNormal::<f64>::new(MEDIAN_LINE_AMOUNT.ln() + plan_spend + age_spend, 0.6)
            .map_or(MEDIAN_LINE_AMOUNT, |d| d.sample(rng));
        let engagement = Gamma::<f64>::new(2.0, 0.5).map_or(1.0, |d| d.sample(rng)) * purchase_rate.sqrt();
        let dissatisfaction = Normal::<f64>::new(0.0, 1.0).map_or(0.0, |d| d.sample(rng));
        let frailty = Normal::<f64>::new(0.0, 0.3).map_or(0.0, |d| d.sample(rng));

        let log_hazard = PLANS[plan].2 + CHANNELS[channel].2
            - age.map_or(0.0, |a| 0.02 * (a - 41) as f64)
            - 0.35 * (spend_level / MEDIAN_LINE_AMOUNT).ln()
            - 0.35 * rate_draw.ln().clamp(-2.5, 2.5)
            + 0.55 * dissatisfaction
            + NARROW_BASKET_EFFECT_BY_PLAN[plan] * basket_narrowness
            + frailty;
        let yearly_hazard = BASE_YEARLY_HAZARD * log_hazard.exp();
        let lifetime_days = Exp::<f64>::new(yearly_hazard / 365.25).map_or(f64::INFINITY, |d| d.sample(rng));
        let churn_time = f64::from(signup_day) + rng.random::<f64>() + lifetime_days;

        Self {
            index,
            signup_day,
            plan,
            region,
            channel,
            age,
            purchase_rate,
            spend_level,
            engagement,
            dissatisfaction,
            main_category,
            basket_narrowness,
            category_focus,
            yearly_hazard,
            churn_time,
        }
    }

    /// The plan's name.
    pub fn plan_name(&self) -> &'static str {
        PLANS[self.plan].0
    }

    /// The region's name.
    pub fn region_name(&self) -> &'static str {
        REGIONS[self.region].0
    }

    /// The acquisition channel's name.
    pub fn channel_name(&self) -> &'static str {
        CHANNELS[self.channel].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::rng::CustomerStreams;

    fn profiles(n: u64) -> Vec<Profile> {
        (0..n)
            .map(|i| {
                let mut streams = CustomerStreams::new(3, i);
                Profile::draw(&mut streams.main, &mut streams.basket, i, 731)
            })
            .collect()
    }

    #[test]
    fn signups_fall_within_the_period_and_lean_early() {
        let all = profiles(20_000);
        assert!(all.iter().all(|p| (p.signup_day as usize) < 731));
        let first_half = all.iter().filter(|p| p.signup_day < 365).count() as f64 / all.len() as f64;
        assert!(
            (0.70..0.80).contains(&first_half),
            "share signed up in the first half: {first_half}"
        );
    }

    #[test]
    fn attributes_follow_their_shares() {
        let all = profiles(20_000);
        let premium = all.iter().filter(|p| p.plan_name() == "premium").count() as f64 / 20_000.0;
        assert!((premium - 0.15).abs() < 0.02, "premium share {premium}");
        let missing_age = all.iter().filter(|p| p.age.is_none()).count();
        assert!((300..900).contains(&missing_age), "missing ages {missing_age}");
        assert!(all.iter().filter_map(|p| p.age).all(|a| (18..=90).contains(&a)));
        let mean_rate = all.iter().map(|p| p.purchase_rate).sum::<f64>() / 20_000.0;
        assert!(
            (0.85..1.15).contains(&mean_rate),
            "mean purchase rate {mean_rate}"
        );
    }

    #[test]
    fn hazard_follows_the_planted_effects() {
        let all = profiles(40_000);
        let mean_hazard = |keep: &dyn Fn(&Profile) -> bool| {
            let chosen: Vec<f64> = all.iter().filter(|p| keep(p)).map(|p| p.yearly_hazard).collect();
            chosen.iter().sum::<f64>() / chosen.len() as f64
        };
        assert!(
            mean_hazard(&|p| p.plan_name() == "basic") > 1.5 * mean_hazard(&|p| p.plan_name() == "premium")
        );
        assert!(
            mean_hazard(&|p| p.channel_name() == "social")
                > 1.5 * mean_hazard(&|p| p.channel_name() == "referral")
        );
        assert!(mean_hazard(&|p| p.dissatisfaction > 1.0) > 2.0 * mean_hazard(&|p| p.dissatisfaction < -1.0));
        // Narrow baskets: more churn on the basic plan, less on the others, about no effect overall.
        let basic = |p: &Profile| p.plan_name() == "basic";
        let narrow_basic = mean_hazard(&|p| basic(p) && p.basket_narrowness > 1.0);
        let broad_basic = mean_hazard(&|p| basic(p) && p.basket_narrowness < -1.0);
        assert!(
            narrow_basic > 1.8 * broad_basic,
            "basic: {narrow_basic} vs {broad_basic}"
        );
        let narrow_paid = mean_hazard(&|p| !basic(p) && p.basket_narrowness > 1.0);
        let broad_paid = mean_hazard(&|p| !basic(p) && p.basket_narrowness < -1.0);
        assert!(
            broad_paid > 1.8 * narrow_paid,
            "other plans: {narrow_paid} vs {broad_paid}"
        );
        let narrow_all = mean_hazard(&|p| p.basket_narrowness > 1.0);
        let broad_all = mean_hazard(&|p| p.basket_narrowness < -1.0);
        assert!(
            (narrow_all / broad_all - 1.0).abs() < 0.25,
            "overall: {narrow_all} vs {broad_all}"
        );
        assert!(all.iter().all(|p| p.churn_time > f64::from(p.signup_day)));
    }
}
