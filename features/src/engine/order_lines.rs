//! The order-lines family: what a customer's orders hold, from the optional `[transactions]` columns
//! `quantity` (units), `product_id` and `category`. Lines and units per order, distinct products and
//! categories, the top category's share of spend and how long the customer has bought in it, and the share
//! of units returned.
//!
//! Each feature needs its columns, so a configuration without them gets none of these columns: units
//! need `quantity`, products `product_id`, categories `category`, and lines per order `order_id` (without
//! it every line is its own order, as for `purchase_count`, and lines per order would always be 1). A
//! line is a purchase or a return by its amount's sign, as everywhere; its units are the quantity's
//! absolute value. An order counts once, from its first purchase line (orders of returns only do not
//! count), as `purchase_count` counts it.

use super::grouped::{Grouped, up_to};
use crate::config::TransactionsSource;
use crate::input::Transactions;
use crate::time::Day;
use rustc_hash::FxHashMap;

/// The "recent" period of lines and units per order, in days: orders placed in the last 90 days.
pub const RECENT_DAYS: u32 = 90;

/// Which order-line columns are mapped, which decides the features.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderLineInputs {
    /// `order_id` is mapped (lines per order).
    pub orders: bool,
    /// `quantity` is mapped (units per order, returned share of units).
    pub units: bool,
    /// `product_id` is mapped (distinct products).
    pub products: bool,
    /// `category` is mapped (distinct categories, the top category).
    pub categories: bool,
}

impl OrderLineInputs {
    /// The order-line columns `source` maps; `None` when it maps none of `product_id`, `category` and
    /// `quantity` (an order id alone adds no feature).
    pub fn of(source: &TransactionsSource) -> Option<Self> {
        source.has_order_lines().then(|| Self {
            orders: source.order_id.is_some(),
            units: source.quantity.is_some(),
            products: source.product_id.is_some(),
            categories: source.category.is_some(),
        })
    }

    /// The features these columns give, in row order, with windowed distinct counts over `windows`.
    pub fn features(&self, windows: &[u32]) -> Vec<OrderLineMeasure> {
        use OrderLineMeasure as M;
        let mut features = Vec::new();
        let lifetime_and_recent = [None, Some(RECENT_DAYS)];
        if self.orders {
            features.extend(lifetime_and_recent.map(|days| M::LinesPerOrder { days }));
        }
        if self.units {
            features.extend(lifetime_and_recent.map(|days| M::UnitsPerOrder { days }));
        }
        let lifetime_and_windows = || std::iter::once(None).chain(windows.iter().copied().map(Some));
        if self.products {
            features.extend(lifetime_and_windows().map(|days| M::DistinctProducts { days }));
        }
        if self.categories {
            features.extend(lifetime_and_windows().map(|days| M::DistinctCategories { days }));
            features.push(M::TopCategorySpendShare);
            features.push(M::DaysSinceFirstTopCategoryPurchase);
        }
        if self.units {
            features.push(M::ReturnedUnitShare);
        }
        features
    }
}

/// One order-line feature. `days: None` is over the customer's whole history up to the as-of date;
/// `Some(d)`, over its last `d` days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderLineMeasure {
    /// `lines_per_order`, `lines_per_order_{d}d`: purchase lines per order.
    LinesPerOrder {
        /// Orders placed in the last `days` days, or all.
        days: Option<u32>,
    },
    /// `units_per_order`, `units_per_order_{d}d`: units bought per order.
    UnitsPerOrder {
        /// Orders placed in the last `days` days, or all.
        days: Option<u32>,
    },
    /// `distinct_products`, `distinct_products_{d}d`: distinct products bought.
    DistinctProducts {
        /// Bought in the last `days` days, or ever.
        days: Option<u32>,
    },
    /// `distinct_categories`, `distinct_categories_{d}d`: distinct categories bought.
    DistinctCategories {
        /// Bought in the last `days` days, or ever.
        days: Option<u32>,
    },
    /// `top_category_spend_share`: the share of purchase spend in the category with the most of it.
    TopCategorySpendShare,
    /// `days_since_first_top_category_purchase`: days since the first purchase in that category.
    DaysSinceFirstTopCategoryPurchase,
    /// `returned_unit_share`: units returned per unit bought.
    ReturnedUnitShare,
}

const TOP_SHARE: &str = "top_category_spend_share";
const TOP_FIRST: &str = "days_since_first_top_category_purchase";
const RETURNED: &str = "returned_unit_share";

impl OrderLineMeasure {
    fn stem(self) -> (&'static str, Option<u32>) {
        match self {
            Self::LinesPerOrder { days } => ("lines_per_order", days),
            Self::UnitsPerOrder { days } => ("units_per_order", days),
            Self::DistinctProducts { days } => ("distinct_products", days),
            Self::DistinctCategories { days } => ("distinct_categories", days),
            Self::TopCategorySpendShare => (TOP_SHARE, None),
            Self::DaysSinceFirstTopCategoryPurchase => (TOP_FIRST, None),
            Self::ReturnedUnitShare => (RETURNED, None),
        }
    }

    /// The column name.
    pub fn name(self) -> String {
        match self.stem() {
            (stem, Some(days)) => format!("{stem}_{days}d"),
            (stem, None) => stem.to_string(),
        }
    }

    /// The measure a column called `name` is, if it is one ([`Self::name`] read backwards).
    pub fn parse(name: &str) -> Option<Self> {
        let (stem, days) = match name.strip_suffix('d').and_then(|head| head.rsplit_once('_')) {
            Some((stem, digits)) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                (stem, Some(digits.parse().ok()?))
            }
            _ => (name, None),
        };
        Some(match (stem, days) {
            // Lines and units per order are computed over all orders and the last RECENT_DAYS only.
            ("lines_per_order", None | Some(RECENT_DAYS)) => Self::LinesPerOrder { days },
            ("units_per_order", None | Some(RECENT_DAYS)) => Self::UnitsPerOrder { days },
            ("distinct_products", days) => Self::DistinctProducts { days },
            ("distinct_categories", days) => Self::DistinctCategories { days },
            (TOP_SHARE, None) => Self::TopCategorySpendShare,
            (TOP_FIRST, None) => Self::DaysSinceFirstTopCategoryPurchase,
            (RETURNED, None) => Self::ReturnedUnitShare,
            _ => return None,
        })
    }

    /// What the column measures.
    pub fn meaning(self) -> String {
        let orders = |days: Option<u32>| match days {
            Some(days) => format!("orders placed in the last {days} days"),
            None => "all orders".to_string(),
        };
        let bought = |days: Option<u32>| match days {
            Some(days) => format!("bought in the last {days} days"),
            None => "ever bought".to_string(),
        };
        match self {
            Self::LinesPerOrder { days } => format!(
                "purchase lines per order, over {} (null without any)",
                orders(days)
            ),
            Self::UnitsPerOrder { days } => format!(
                "units bought (quantity) per order, over {} (null without any); each line is its own \
                 order when order ids are not configured",
                orders(days)
            ),
            Self::DistinctProducts { days } => format!("distinct products {}", bought(days)),
            Self::DistinctCategories { days } => format!("distinct categories {}", bought(days)),
            Self::TopCategorySpendShare => {
                "share of purchase spend in the category with the most of it (null \
                                            without purchase spend)"
                    .into()
            }
            Self::DaysSinceFirstTopCategoryPurchase => "days from the first purchase in the category with \
                                                        the most purchase spend (the current top category) \
                                                        to the as-of date"
                .into(),
            Self::ReturnedUnitShare => "units returned divided by units bought (above 1 when more came back \
                                        than was bought in the data; null without units bought)"
                .into(),
        }
    }

    /// The unit of its values.
    pub fn unit(self) -> &'static str {
        match self {
            Self::LinesPerOrder { .. } => "lines per order",
            Self::UnitsPerOrder { .. } => "units per order",
            Self::DistinctProducts { .. } | Self::DistinctCategories { .. } => "count",
            Self::TopCategorySpendShare | Self::ReturnedUnitShare => "share",
            Self::DaysSinceFirstTopCategoryPurchase => "days",
        }
    }

    /// The period it covers relative to the as-of date.
    pub fn window(self) -> String {
        match self.stem() {
            (_, Some(days)) => format!("last {days} days"),
            (_, None) => "up to the as-of date".into(),
        }
    }

    /// The short name people read (see [`super::layout::readable_name`]).
    pub fn readable(self) -> String {
        let (what, days) = match self {
            Self::LinesPerOrder { days } => ("Lines per order", days),
            Self::UnitsPerOrder { days } => ("Units per order", days),
            Self::DistinctProducts { days } => ("Distinct products bought", days),
            Self::DistinctCategories { days } => ("Distinct categories bought", days),
            Self::TopCategorySpendShare => ("Share of spend in the top category", None),
            Self::DaysSinceFirstTopCategoryPurchase => {
                ("Days since first purchase in the top category", None)
            }
            Self::ReturnedUnitShare => ("Share of units returned", None),
        };
        match days {
            Some(days) => format!("{what} in the last {days} days"),
            None => what.to_string(),
        }
    }
}

/// Where the order-line features sit in a numeric row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLineBlock {
    /// Position of the first feature.
    pub start: usize,
    /// The features in row order.
    pub features: Vec<OrderLineMeasure>,
}

/// One transaction line of a customer, as the order-line features read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineRow {
    /// UTC day.
    pub day: Day,
    /// Amount; negative for a return.
    pub amount: f64,
    /// Units (NaN without `quantity`).
    pub units: f64,
    /// The order's key: its id's hash, or one per line without order ids.
    pub order: u64,
    /// Hash of the product id (`None` when null, or without `product_id`): a line without one counts in
    /// every feature but the product ones.
    pub product: Option<u64>,
    /// Hash of the category (`None` when null, or without `category`): a line without one counts in
    /// every feature but the category ones.
    pub category: Option<u64>,
}

/// Groups the transactions' lines by customer, each customer's sorted by day (and the other fields, so
/// that sums are added in one order whatever the file order).
pub fn group(customers: usize, table: &Transactions) -> Grouped<LineRow> {
    let empty = LineRow {
        day: 0,
        amount: 0.0,
        units: f64::NAN,
        order: 0,
        product: None,
        category: None,
    };
    let key = |column: &Option<Vec<Option<u64>>>, i: usize| column.as_ref().and_then(|values| values[i]);
    Grouped::build(
        customers,
        &table.customer,
        |i| LineRow {
            day: table.day[i],
            amount: table.amount[i],
            units: table.units.as_ref().map_or(f64::NAN, |units| units[i]),
            // Without order ids each line is its own order.
            order: table.order.as_ref().map_or(i as u64, |orders| orders[i]),
            product: key(&table.product, i),
            category: key(&table.category, i),
        },
        |rows| {
            rows.sort_unstable_by(|a, b| {
                (a.day, a.order, a.product, a.category)
                    .cmp(&(b.day, b.order, b.product, b.category))
                    .then(a.amount.total_cmp(&b.amount))
                    .then(a.units.total_cmp(&b.units))
            });
        },
        empty,
    )
}

/// Purchase spend, first and last purchase day of one category.
struct Category {
    spend: f64,
    first: Day,
    last: Day,
}

/// Fills the order-line block of `row` from a customer's day-sorted lines, seeing those on or before
/// `as_of` only.
pub fn fill(block: &OrderLineBlock, rows: &[LineRow], as_of: Day, row: &mut [f64]) {
    let seen = &rows[..up_to(rows, as_of, |r| r.day)];
    let recent = |day: Day| i64::from(as_of) - i64::from(day) < i64::from(RECENT_DAYS);
    // Each order's first purchase day: an order is placed then, and its lines and units count there.
    let mut orders: FxHashMap<u64, Day> = FxHashMap::default();
    let mut products: FxHashMap<u64, Day> = FxHashMap::default();
    let mut categories: FxHashMap<u64, Category> = FxHashMap::default();
    let (mut lines, mut units, mut recent_orders, mut recent_lines, mut recent_units) =
        (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut returned_units, mut spend) = (0.0, 0.0);
    for r in seen {
        let line_units = if r.units.is_nan() { 0.0 } else { r.units };
        // The sign bit, as for every return: a returned free item has the amount −0.0.
        if r.amount.is_sign_negative() {
            returned_units += line_units;
            continue;
        }
        let placed = *orders.entry(r.order).or_insert_with(|| {
            if recent(r.day) {
                recent_orders += 1.0;
            }
            r.day
        });
        lines += 1.0;
        units += line_units;
        if recent(placed) {
            recent_lines += 1.0;
            recent_units += line_units;
        }
        spend += r.amount;
        // Rows are sorted by day: the last insert is the latest day.
        if let Some(product) = r.product {
            products.insert(product, r.day);
        }
        let Some(category) = r.category else {
            continue;
        };
        let category = categories.entry(category).or_insert(Category {
            spend: 0.0,
            first: r.day,
            last: r.day,
        });
        category.spend += r.amount;
        category.last = r.day;
    }
    // The top category: the most spend, then the earliest first purchase, then the smaller key, so the
    // choice depends on the rows alone.
    let top = categories
        .iter()
        .min_by(|(ka, a), (kb, b)| {
            b.spend
                .total_cmp(&a.spend)
                .then(a.first.cmp(&b.first))
                .then(ka.cmp(kb))
        })
        .map(|(_, c)| c);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let within = |day: Day, days: Option<u32>| {
        days.is_none_or(|days| i64::from(as_of) - i64::from(day) < i64::from(days))
    };
    let order_count = orders.len() as f64;
    let out = &mut row[block.start..block.start + block.features.len()];
    for (value, &feature) in out.iter_mut().zip(&block.features) {
        *value = match feature {
            OrderLineMeasure::LinesPerOrder { days: None } => ratio(lines, order_count),
            OrderLineMeasure::LinesPerOrder { days: Some(_) } => ratio(recent_lines, recent_orders),
            OrderLineMeasure::UnitsPerOrder { days: None } => ratio(units, order_count),
            OrderLineMeasure::UnitsPerOrder { days: Some(_) } => ratio(recent_units, recent_orders),
            OrderLineMeasure::DistinctProducts { days } => {
                products.values().filter(|&&day| within(day, days)).count() as f64
            }
            OrderLineMeasure::DistinctCategories { days } => {
                categories.values().filter(|c| within(c.last, days)).count() as f64
            }
            OrderLineMeasure::TopCategorySpendShare => top.map_or(f64::NAN, |c| ratio(c.spend, spend)),
            OrderLineMeasure::DaysSinceFirstTopCategoryPurchase => {
                top.map_or(f64::NAN, |c| f64::from(as_of - c.first))
            }
            OrderLineMeasure::ReturnedUnitShare => ratio(returned_units, units),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        let all = OrderLineInputs {
            orders: true,
            units: true,
            products: true,
            categories: true,
        };
        let features = all.features(&[7, 30]);
        assert_eq!(features.len(), 2 + 2 + 3 + 3 + 3);
        for feature in features {
            assert_eq!(
                OrderLineMeasure::parse(&feature.name()),
                Some(feature),
                "{}",
                feature.name()
            );
        }
        for name in [
            "lines_per_order_d",
            "distinct_products_",
            "returned_unit_share_30d",
            "units",
            // Only the 90-day window is computed: another would be read as a 90-day value.
            "lines_per_order_30d",
            "units_per_order_7d",
        ] {
            assert_eq!(OrderLineMeasure::parse(name), None, "{name}");
        }
    }

    #[test]
    fn an_order_id_alone_adds_nothing() {
        let base = "[transactions]\npath = \"tx.parquet\"\ncustomer_id = \"c\"\ntimestamp = \"ts\"\n\
                    amount = \"a\"\norder_id = \"o\"\n";
        let source = |extra: &str| {
            crate::Config::parse(&format!("{base}{extra}"), std::path::Path::new(""))
                .expect("valid")
                .transactions
                .expect("transactions")
        };
        assert_eq!(OrderLineInputs::of(&source("")), None);
        let products = OrderLineInputs::of(&source("product_id = \"p\"\n")).expect("products");
        let names: Vec<String> = products.features(&[30]).iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "lines_per_order",
                "lines_per_order_90d",
                "distinct_products",
                "distinct_products_30d"
            ]
        );
    }
}
