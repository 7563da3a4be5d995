//! Count tables: what a data engine hands to the metric stage.

use serde::{Deserialize, Serialize};

pub use venturalitica_vocab::results::BinaryCounts;

/// Rows and positive outcomes of one column (label or prediction).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeCounts {
    pub n: u64,
    pub positives: u64,
}

impl OutcomeCounts {
    pub fn cells(&self) -> [u64; 2] {
        [self.positives, self.n - self.positives]
    }
    pub fn from_cells(c: [u64; 2]) -> Self {
        Self {
            n: c[0] + c[1],
            positives: c[0],
        }
    }
}

/// Counts per distinct value of a column (class balance).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCounts {
    pub classes: Vec<(String, u64)>,
}

/// Any count type, keyed by group (each distinct value of the attribute;
/// nulls form their own group, labelled `null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupTable<C> {
    pub groups: Vec<(String, C)>,
}

impl<C: Copy> GroupTable<C> {
    pub fn new(mut groups: Vec<(String, C)>) -> Self {
        // A stable order makes results, charts and the bootstrap reproducible.
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        Self { groups }
    }
}

impl GroupTable<BinaryCounts> {
    /// Every group's counts added up: the table over all rows.
    pub fn pooled(&self) -> BinaryCounts {
        self.groups
            .iter()
            .fold(BinaryCounts::default(), |a, (_, c)| BinaryCounts {
                tp: a.tp + c.tp,
                fp: a.fp + c.fp,
                tn: a.tn + c.tn,
                fn_: a.fn_ + c.fn_,
            })
    }

    /// Rows and positive predictions per group: the selection rates.
    pub fn selection_counts(&self) -> GroupTable<OutcomeCounts> {
        GroupTable::new(
            self.groups
                .iter()
                .map(|(g, c)| {
                    (
                        g.clone(),
                        OutcomeCounts {
                            n: c.n(),
                            positives: c.predicted_positives(),
                        },
                    )
                })
                .collect(),
        )
    }
}

/// A count type whose cells can be flattened and rebuilt, so the bootstrap
/// can resample any table the same way.
pub trait Cells: Copy {
    const WIDTH: usize;
    fn write_cells(&self, out: &mut Vec<u64>);
    fn read_cells(cells: &[u64]) -> Self;
}

impl Cells for BinaryCounts {
    const WIDTH: usize = 4;
    fn write_cells(&self, out: &mut Vec<u64>) {
        out.extend_from_slice(&self.cells());
    }
    fn read_cells(c: &[u64]) -> Self {
        Self::from_cells([c[0], c[1], c[2], c[3]])
    }
}

impl Cells for OutcomeCounts {
    const WIDTH: usize = 2;
    fn write_cells(&self, out: &mut Vec<u64>) {
        out.extend_from_slice(&self.cells());
    }
    fn read_cells(c: &[u64]) -> Self {
        Self::from_cells([c[0], c[1]])
    }
}
