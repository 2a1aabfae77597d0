//! Customer ids mapped to dense indices, in order of first appearance, across all input files.

use crate::table::CustomerIds;
use rustc_hash::FxHashMap;

/// Dense index of a customer.
pub type CustomerIndex = u32;

/// A customer id borrowed from an input column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key<'a> {
    /// Integer id.
    Int(i64),
    /// String id.
    Str(&'a str),
}

impl std::fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Int(id) => write!(f, "{id}"),
            Key::Str(id) => write!(f, "{id}"),
        }
    }
}

/// Integer ids in `0..DENSE_LIMIT` are looked up in a plain table instead of a hash map: most systems
/// number customers densely, and a table lookup is several times faster than hashing.
const DENSE_LIMIT: i64 = 1 << 25;
const ABSENT: CustomerIndex = CustomerIndex::MAX;

/// Interns customer ids. All inputs must use one id type (all integer or all string).
#[derive(Debug, Default)]
pub struct CustomerInterner {
    dense: Vec<CustomerIndex>,
    ints: FxHashMap<i64, CustomerIndex>,
    int_ids: Vec<i64>,
    str_ids: TextIds,
}

/// Text ids, each stored once: their bytes end to end, where each ends, and a hash table of their indices
/// (a few bytes per id besides its text, where a map from owned strings would cost a hundred).
#[derive(Debug, Default)]
struct TextIds {
    text: String,
    ends: Vec<usize>,
    table: hashbrown::HashTable<CustomerIndex>,
    /// The id interned last. Logs often hold a customer's rows together (exported per customer, or
    /// sorted by customer for compression): comparing with the last id, whose text is in cache, skips
    /// hashing and a probe of the table, a cache miss on large inputs, for each such row.
    last: Option<CustomerIndex>,
}

impl TextIds {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Id `index`.
    fn get(&self, index: CustomerIndex) -> &str {
        text_at(&self.text, &self.ends, index)
    }

    /// The index of `id`, when known.
    fn find(&self, id: &str) -> Option<CustomerIndex> {
        self.table.find(hash_text(id), |&i| self.get(i) == id).copied()
    }

    /// The index of `id`, adding it when new.
    fn intern(&mut self, id: &str) -> CustomerIndex {
        if let Some(last) = self.last
            && self.get(last) == id
        {
            return last;
        }
        let hash = hash_text(id);
        let Self {
            text,
            ends,
            table,
            last,
        } = self;
        let index = match table.find(hash, |&i| text_at(text, ends, i) == id) {
            Some(&index) => index,
            None => {
                let index = ends.len() as CustomerIndex;
                text.push_str(id);
                ends.push(text.len());
                table.insert_unique(hash, index, |&i| hash_text(text_at(text, ends, i)));
                index
            }
        };
        *last = Some(index);
        index
    }
}

/// Id `index` of ids stored end to end in `text`, each ending at its entry of `ends`.
fn text_at<'a>(text: &'a str, ends: &[usize], index: CustomerIndex) -> &'a str {
    let index = index as usize;
    let start = if index == 0 { 0 } else { ends[index - 1] };
    &text[start..ends[index]]
}

fn hash_text(id: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one(id)
}

/// Numbers the distinct keys (customers, event types) of one batch of rows in the order of their first
/// row, where batches are read in parallel; in order, each batch's customers are then interned
/// ([`CustomerInterner::intern`]) in that order, which gives every customer the index that interning row
/// by row would.
pub(crate) struct BatchIds<K> {
    numbers: FxHashMap<K, u32>,
    /// The last key numbered: rows of one customer often come together.
    last: Option<(K, u32)>,
}

impl<K> Default for BatchIds<K> {
    fn default() -> Self {
        Self {
            numbers: FxHashMap::default(),
            last: None,
        }
    }
}

impl<K: Copy + Eq + std::hash::Hash> BatchIds<K> {
    /// The number of `key`, and whether this is its first row in the batch.
    #[inline]
    pub(crate) fn number(&mut self, key: K) -> (u32, bool) {
        if let Some((last, number)) = self.last
            && last == key
        {
            return (number, false);
        }
        let next = self.numbers.len() as u32;
        let number = *self.numbers.entry(key).or_insert(next);
        self.last = Some((key, number));
        (number, number == next)
    }
}

/// The id types of two inputs differ.
#[derive(Debug, Clone, Copy)]
pub struct IdTypeMismatch;

impl CustomerInterner {
    /// Number of customers seen.
    pub fn len(&self) -> usize {
        self.int_ids.len() + self.str_ids.len()
    }

    /// True when no customer was seen.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether ids so far are strings (`None` before the first id).
    pub fn holds_strings(&self) -> Option<bool> {
        if !self.str_ids.is_empty() {
            Some(true)
        } else if !self.int_ids.is_empty() {
            Some(false)
        } else {
            None
        }
    }

    /// The index of `key`, adding it when new.
    #[inline]
    pub fn intern(&mut self, key: Key<'_>) -> Result<CustomerIndex, IdTypeMismatch> {
        match key {
            Key::Int(id) => {
                if !self.str_ids.is_empty() {
                    return Err(IdTypeMismatch);
                }
                let next = self.int_ids.len() as CustomerIndex;
                let index = if (0..DENSE_LIMIT).contains(&id) {
                    let slot = id as usize;
                    if slot >= self.dense.len() {
                        let size = (slot + 1).next_power_of_two().max(1024);
                        self.dense.resize(size, ABSENT);
                    }
                    if self.dense[slot] == ABSENT {
                        self.dense[slot] = next;
                    }
                    self.dense[slot]
                } else {
                    *self.ints.entry(id).or_insert(next)
                };
                if index == next {
                    self.int_ids.push(id);
                }
                Ok(index)
            }
            Key::Str(id) => {
                if !self.int_ids.is_empty() {
                    return Err(IdTypeMismatch);
                }
                Ok(self.str_ids.intern(id))
            }
        }
    }

    /// The index of `key` when it is known.
    pub fn get(&self, key: Key<'_>) -> Option<CustomerIndex> {
        match key {
            Key::Int(id) if (0..DENSE_LIMIT).contains(&id) => {
                self.dense.get(id as usize).copied().filter(|&i| i != ABSENT)
            }
            Key::Int(id) => self.ints.get(&id).copied(),
            Key::Str(id) => self.str_ids.find(id),
        }
    }

    /// The Arrow type of the ids: Int64, or Utf8 for text ids.
    pub fn data_type(&self) -> arrow_schema::DataType {
        if self.str_ids.is_empty() {
            arrow_schema::DataType::Int64
        } else {
            arrow_schema::DataType::Utf8
        }
    }

    /// The ids of `indices`, in that order, as an Arrow array of [`CustomerInterner::data_type`].
    pub fn id_array(&self, indices: &[CustomerIndex]) -> arrow_array::ArrayRef {
        if self.str_ids.is_empty() {
            let ids =
                arrow_array::Int64Array::from_iter_values(indices.iter().map(|&i| self.int_ids[i as usize]));
            std::sync::Arc::new(ids)
        } else {
            let ids =
                arrow_array::StringArray::from_iter_values(indices.iter().map(|&i| self.str_ids.get(i)));
            std::sync::Arc::new(ids)
        }
    }

    /// The ids of `indices`, in that order.
    pub fn ids_of(&self, indices: &[CustomerIndex]) -> CustomerIds {
        if self.str_ids.is_empty() {
            CustomerIds::Int(indices.iter().map(|&i| self.int_ids[i as usize]).collect())
        } else {
            CustomerIds::Str(indices.iter().map(|&i| self.str_ids.get(i).to_string()).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_appearance_order_and_type_check() {
        let mut ids = CustomerInterner::default();
        assert_eq!(ids.intern(Key::Str("b")).ok(), Some(0));
        assert_eq!(ids.intern(Key::Str("a")).ok(), Some(1));
        assert_eq!(ids.intern(Key::Str("b")).ok(), Some(0));
        assert_eq!(ids.intern(Key::Str("b")).ok(), Some(0), "the last id again");
        assert_eq!(
            ids.intern(Key::Str("bb")).ok(),
            Some(2),
            "the last id's prefix extended"
        );
        assert_eq!(ids.intern(Key::Str("")).ok(), Some(3));
        assert_eq!(ids.intern(Key::Str("a")).ok(), Some(1));
        assert!(ids.intern(Key::Int(3)).is_err());
        assert_eq!(ids.get(Key::Str("a")), Some(1));
        assert_eq!(
            ids.ids_of(&[1, 0, 2]),
            CustomerIds::Str(vec!["a".into(), "b".into(), "bb".into()])
        );
    }

    #[test]
    fn dense_and_sparse_integer_ids_share_one_numbering() {
        let mut ids = CustomerInterner::default();
        for (id, expected) in [
            (5, 0),
            (-7, 1),
            (1 << 40, 2),
            (5, 0),
            (3_000, 3),
            (-7, 1),
            (1 << 40, 2),
        ] {
            assert_eq!(ids.intern(Key::Int(id)).ok(), Some(expected), "{id}");
        }
        assert_eq!(ids.get(Key::Int(3_000)), Some(3));
        assert_eq!(ids.get(Key::Int(4)), None);
        assert_eq!(ids.get(Key::Int(1 << 41)), None);
        assert_eq!(ids.ids_of(&[2, 0]), CustomerIds::Int(vec![1 << 40, 5]));
    }
}
