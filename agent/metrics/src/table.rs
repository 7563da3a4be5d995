//! Count tables: what a data engine hands to the metric stage.

use serde::{Deserialize, Serialize};

/// Confusion counts of a binary label against a binary prediction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryCounts {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

impl BinaryCounts {
    pub fn n(&self) -> u64 {
        self.tp + self.fp + self.tn + self.fn_
    }
    /// Rows whose label is positive.
    pub fn label_positives(&self) -> u64 {
        self.tp + self.fn_
    }
    /// Rows whose label is negative.
    pub fn label_negatives(&self) -> u64 {
        self.fp + self.tn
    }
    /// Rows predicted positive.
    pub fn predicted_positives(&self) -> u64 {
        self.tp + self.fp
    }
    /// The four cells in a fixed order, for resampling.
    pub fn cells(&self) -> [u64; 4] {
        [self.tp, self.fp, self.tn, self.fn_]
    }
    pub fn from_cells(c: [u64; 4]) -> Self {
        Self {
            tp: c[0],
            fp: c[1],
            tn: c[2],
            fn_: c[3],
        }
    }
}

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
