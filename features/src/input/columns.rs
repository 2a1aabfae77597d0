//! Typed access to input columns, whatever Arrow type the file used: each accessor checks the type once
//! (so a wrong type is reported by column, not by row) and then reads values row by row.

use super::ids::Key;
use crate::time::{Day, Moment, checked_moment_of_timestamp, in_calendar, parse_iso_moment};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, BooleanArray, PrimitiveArray};
use arrow_schema::{DataType, TimeUnit};

/// The kind of value a configured column must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Customer id: integer or string.
    Id,
    /// Another key (product id, category): integer or string.
    Key,
    /// Point in time: timestamp, date or ISO-8601 string.
    Time,
    /// Number: integer, float or decimal.
    Number,
    /// Text.
    Text,
    /// 0/1 label: integer or boolean.
    Label,
    /// Static attribute: number, boolean or string.
    Attribute,
    /// Date attribute: a date or timestamp (no strings: their format would be a guess).
    Date,
}

impl ColumnKind {
    /// The Arrow types accepted, in words.
    pub fn expected(self) -> &'static str {
        match self {
            Self::Id => "an integer or string customer id",
            Self::Key => "an integer or string",
            Self::Time => "a timestamp, date or ISO-8601 string",
            Self::Number => "a number (integer, float or decimal)",
            Self::Text => "a string",
            Self::Label => "a 0/1 integer or boolean label",
            Self::Attribute => "a number, boolean or string",
            Self::Date => "a date or timestamp (Parquet date32, date64 or timestamp)",
        }
    }

    /// Whether `data_type` can be read as this kind.
    pub fn accepts(self, data_type: &DataType) -> bool {
        let text = matches!(
            data_type,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        );
        match self {
            Self::Id | Self::Key => text || is_integer(data_type),
            Self::Time => {
                text || matches!(
                    data_type,
                    DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
                )
            }
            Self::Number => {
                is_integer(data_type)
                    || matches!(
                        data_type,
                        DataType::Float32 | DataType::Float64 | DataType::Decimal128(..)
                    )
            }
            Self::Text => text,
            Self::Label => is_integer(data_type) || data_type == &DataType::Boolean,
            Self::Attribute => {
                Self::Number.accepts(data_type)
                    || Self::Text.accepts(data_type)
                    || data_type == &DataType::Boolean
            }
            Self::Date => matches!(
                data_type,
                DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
            ),
        }
    }
}

fn is_integer(data_type: &DataType) -> bool {
    data_type.is_integer()
}

/// Reads strings from any of Arrow's string layouts.
pub enum TextColumn<'a> {
    /// `Utf8`.
    Small(&'a arrow_array::StringArray),
    /// `LargeUtf8`.
    Large(&'a arrow_array::LargeStringArray),
    /// `Utf8View`.
    View(&'a arrow_array::StringViewArray),
}

impl<'a> TextColumn<'a> {
    /// A text view of `array`, when it holds strings.
    pub fn new(array: &'a ArrayRef) -> Option<Self> {
        match array.data_type() {
            DataType::Utf8 => Some(Self::Small(array.as_string::<i32>())),
            DataType::LargeUtf8 => Some(Self::Large(array.as_string::<i64>())),
            DataType::Utf8View => Some(Self::View(array.as_string_view())),
            _ => None,
        }
    }

    /// The string at `row`, `None` when null.
    #[inline]
    pub fn get(&self, row: usize) -> Option<&'a str> {
        match self {
            Self::Small(a) => a.is_valid(row).then(|| a.value(row)),
            Self::Large(a) => a.is_valid(row).then(|| a.value(row)),
            Self::View(a) => a.is_valid(row).then(|| a.value(row)),
        }
    }
}

/// Reads customer ids.
pub enum IdColumn<'a> {
    /// 64-bit integer ids, read in place.
    Int64(&'a arrow_array::Int64Array),
    /// Other integer ids, widened to i64 one at a time.
    Int(NarrowInts<'a>),
    /// String ids.
    Text(TextColumn<'a>),
}

impl<'a> IdColumn<'a> {
    /// An id view of `array` (its type was checked against [`ColumnKind::Id`]).
    pub fn new(array: &'a ArrayRef) -> Self {
        if let Some(text) = TextColumn::new(array) {
            return Self::Text(text);
        }
        match array.data_type() {
            DataType::Int64 => Self::Int64(array.as_primitive::<Int64Type>()),
            _ => Self::Int(NarrowInts::new(array)),
        }
    }

    /// The id at `row`, `None` when null.
    #[inline]
    pub fn get(&self, row: usize) -> Option<Key<'a>> {
        match self {
            Self::Int64(values) => values.is_valid(row).then(|| Key::Int(values.value(row))),
            Self::Int(values) => values.get(row).map(Key::Int),
            Self::Text(text) => text.get(row).map(Key::Str),
        }
    }
}

/// An integer array of another type than i64, read as i64 (a u64 beyond i64::MAX as null).
pub enum NarrowInts<'a> {
    /// `Int8`.
    I8(&'a PrimitiveArray<Int8Type>),
    /// `Int16`.
    I16(&'a PrimitiveArray<Int16Type>),
    /// `Int32`.
    I32(&'a PrimitiveArray<Int32Type>),
    /// `UInt8`.
    U8(&'a PrimitiveArray<UInt8Type>),
    /// `UInt16`.
    U16(&'a PrimitiveArray<UInt16Type>),
    /// `UInt32`.
    U32(&'a PrimitiveArray<UInt32Type>),
    /// `UInt64`.
    U64(&'a PrimitiveArray<UInt64Type>),
    /// Not an integer type (refused before reading): every value is null.
    Other,
}

impl<'a> NarrowInts<'a> {
    fn new(array: &'a ArrayRef) -> Self {
        match array.data_type() {
            DataType::Int8 => Self::I8(array.as_primitive()),
            DataType::Int16 => Self::I16(array.as_primitive()),
            DataType::Int32 => Self::I32(array.as_primitive()),
            DataType::UInt8 => Self::U8(array.as_primitive()),
            DataType::UInt16 => Self::U16(array.as_primitive()),
            DataType::UInt32 => Self::U32(array.as_primitive()),
            DataType::UInt64 => Self::U64(array.as_primitive()),
            _ => Self::Other,
        }
    }

    /// The value at `row`, `None` when null (or beyond i64).
    #[inline]
    fn get(&self, row: usize) -> Option<i64> {
        fn at<T: arrow_array::ArrowPrimitiveType>(
            array: &PrimitiveArray<T>,
            row: usize,
        ) -> Option<T::Native> {
            array.is_valid(row).then(|| array.value(row))
        }
        match self {
            Self::I8(a) => at(a, row).map(i64::from),
            Self::I16(a) => at(a, row).map(i64::from),
            Self::I32(a) => at(a, row).map(i64::from),
            Self::U8(a) => at(a, row).map(i64::from),
            Self::U16(a) => at(a, row).map(i64::from),
            Self::U32(a) => at(a, row).map(i64::from),
            Self::U64(a) => at(a, row).and_then(|v| i64::try_from(v).ok()),
            Self::Other => None,
        }
    }
}

/// Widens any integer array to i64 (u64 beyond i64::MAX becomes null; other types are all null).
fn integers(array: &ArrayRef) -> Vec<Option<i64>> {
    if let DataType::Int64 = array.data_type() {
        return array.as_primitive::<Int64Type>().iter().collect();
    }
    let ints = NarrowInts::new(array);
    (0..array.len()).map(|row| ints.get(row)).collect()
}

/// Reads days from timestamps, dates or ISO-8601 strings; the common types are read in place.
pub enum DayColumn<'a> {
    /// A timestamp or Date64 column as 64-bit counts of the given units per second since the epoch.
    Units(PrimitiveArray<Int64Type>, i64),
    /// A Date32 column: days since the epoch.
    Date(&'a PrimitiveArray<Date32Type>),
    /// A string column.
    Text(TextColumn<'a>),
    /// A column of another type (refused earlier by [`ColumnKind::Time`]).
    Unsupported,
}

impl<'a> DayColumn<'a> {
    /// A day view of `array`.
    pub fn new(array: &'a ArrayRef) -> Self {
        match array.data_type() {
            DataType::Timestamp(TimeUnit::Second, _) => Self::Units(as_i64::<TimestampSecondType>(array), 1),
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                Self::Units(as_i64::<TimestampMillisecondType>(array), 1_000)
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                Self::Units(as_i64::<TimestampMicrosecondType>(array), 1_000_000)
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                Self::Units(as_i64::<TimestampNanosecondType>(array), 1_000_000_000)
            }
            DataType::Date64 => Self::Units(as_i64::<Date64Type>(array), 1_000),
            DataType::Date32 => Self::Date(array.as_primitive::<Date32Type>()),
            _ => TextColumn::new(array).map_or(Self::Unsupported, Self::Text),
        }
    }

    /// The day at `row`, or why there is none.
    #[inline]
    pub fn get(&self, row: usize) -> Result<Day, &'static str> {
        self.moment(row).map(|moment| moment.day)
    }

    /// For a column where a date may be missing: the day at `row`, `None` when null, or why a value that
    /// is there is not a day.
    #[inline]
    pub fn get_optional(&self, row: usize) -> Result<Option<Day>, &'static str> {
        let null = match self {
            Self::Units(values, _) => values.is_null(row),
            Self::Date(values) => values.is_null(row),
            Self::Text(text) => text.get(row).is_none(),
            Self::Unsupported => false,
        };
        if null { Ok(None) } else { self.get(row).map(Some) }
    }

    /// The text at `row` of a string column (to quote in an error); `None` for other types and nulls.
    pub fn text(&self, row: usize) -> Option<&str> {
        match self {
            Self::Text(text) => text.get(row),
            _ => None,
        }
    }

    /// The moment (day and time of day, UTC) at `row`, or why there is none.
    #[inline]
    pub fn moment(&self, row: usize) -> Result<Moment, &'static str> {
        const NULL: &str = "null timestamp";
        const OUT: &str = "date outside the calendar's range (years -262144 to 262143)";
        match self {
            Self::Units(values, per_second) => {
                if !values.is_valid(row) {
                    return Err(NULL);
                }
                checked_moment_of_timestamp(values.value(row), *per_second).ok_or(OUT)
            }
            Self::Date(values) => {
                if !values.is_valid(row) {
                    return Err(NULL);
                }
                let day = values.value(row);
                if !in_calendar(i64::from(day)) {
                    return Err(OUT);
                }
                Ok(Moment { day, nanos: 0 })
            }
            Self::Text(text) => match text.get(row) {
                None => Err(NULL),
                Some(s) => parse_iso_moment(s).ok_or("not an ISO-8601 date or date-time"),
            },
            Self::Unsupported => Err("unsupported time type"),
        }
    }
}

/// The same buffer seen as plain i64 counts.
fn as_i64<T: arrow_array::ArrowPrimitiveType<Native = i64>>(array: &ArrayRef) -> PrimitiveArray<Int64Type> {
    let typed = array.as_primitive::<T>();
    PrimitiveArray::new(typed.values().clone(), typed.nulls().cloned())
}

/// Reads numbers as f64; 64-bit floats are read in place. Null is `None`; NaN and infinities are passed
/// on for the caller to judge.
pub enum NumberColumn<'a> {
    /// Float64.
    F64(&'a PrimitiveArray<Float64Type>),
    /// Any other numeric type, converted.
    Converted(Vec<Option<f64>>),
}

impl<'a> NumberColumn<'a> {
    /// A number view of `array`.
    pub fn new(array: &'a ArrayRef) -> Self {
        fn as_f64<T: arrow_array::ArrowPrimitiveType>(
            array: &PrimitiveArray<T>,
            convert: impl Fn(T::Native) -> f64,
        ) -> Vec<Option<f64>> {
            array.iter().map(|v| v.map(&convert)).collect()
        }
        match array.data_type() {
            DataType::Float64 => Self::F64(array.as_primitive::<Float64Type>()),
            DataType::Float32 => Self::Converted(as_f64(array.as_primitive::<Float32Type>(), f64::from)),
            DataType::Decimal128(_, scale) => {
                let divisor = 10f64.powi(i32::from(*scale));
                Self::Converted(as_f64(array.as_primitive::<Decimal128Type>(), |v| {
                    v as f64 / divisor
                }))
            }
            DataType::Boolean => Self::Converted(
                array
                    .as_boolean()
                    .iter()
                    .map(|v| v.map(|b| f64::from(u8::from(b))))
                    .collect(),
            ),
            _ => Self::Converted(integers(array).into_iter().map(|v| v.map(|v| v as f64)).collect()),
        }
    }

    /// The number at `row`, `None` when null.
    #[inline]
    pub fn get(&self, row: usize) -> Option<f64> {
        match self {
            Self::F64(values) => values.is_valid(row).then(|| values.value(row)),
            Self::Converted(values) => values[row],
        }
    }
}

/// Reads 0/1 labels from integers or booleans; other integers are `Err`.
pub fn labels(array: &ArrayRef) -> Vec<Result<Option<i8>, String>> {
    if let Some(flags) = array.as_any().downcast_ref::<BooleanArray>() {
        return flags.iter().map(|v| Ok(v.map(i8::from))).collect();
    }
    integers(array)
        .into_iter()
        .map(|v| match v {
            None => Ok(None),
            Some(0) => Ok(Some(0)),
            Some(1) => Ok(Some(1)),
            Some(other) => Err(format!("label {other} is neither 0 nor 1")),
        })
        .collect()
}
