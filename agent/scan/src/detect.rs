//! Datasets and models a project's code loads, found by reading the code.
//!
//! The heuristic: a call to one of the loaders below whose first argument
//! (or `model_file=` / `path=` keyword) is a string literal. Loads through
//! variables are not resolved; nothing is executed. Notebook code cells and
//! `.py` files are read; the line number is the line inside the file (for a
//! notebook, inside the cell, with the cell index).

use std::path::Path;

/// What was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AssetKind {
    Dataset,
    Model,
}

/// Loader names (the text before `(`) and what they load.
pub const LOADERS: [(&str, AssetKind); 22] = [
    ("read_csv", AssetKind::Dataset),
    ("read_parquet", AssetKind::Dataset),
    ("read_json", AssetKind::Dataset),
    ("read_excel", AssetKind::Dataset),
    ("read_feather", AssetKind::Dataset),
    ("read_ipc", AssetKind::Dataset),
    ("read_table", AssetKind::Dataset),
    ("scan_csv", AssetKind::Dataset),
    ("scan_parquet", AssetKind::Dataset),
    ("scan_ipc", AssetKind::Dataset),
    ("load_dataset", AssetKind::Dataset),
    ("fetch_openml", AssetKind::Dataset),
    ("loadtxt", AssetKind::Dataset),
    ("from_pretrained", AssetKind::Model),
    ("load_model", AssetKind::Model),
    ("joblib.load", AssetKind::Model),
    ("torch.load", AssetKind::Model),
    ("load_learner", AssetKind::Model),
    ("Booster", AssetKind::Model),
    ("onnx.load", AssetKind::Model),
    ("InferenceSession", AssetKind::Model),
    ("hf_hub_download", AssetKind::Model),
];

/// One detected load.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Asset {
    pub kind: AssetKind,
    /// The literal: a path, a URL or a hub name.
    pub name: String,
    /// `file:line` (notebooks: `file#cell:line`).
    pub found_in: String,
    pub loader: String,
}

/// The loads in one source text.
pub fn scan_source(text: &str, origin: &str, out: &mut Vec<Asset>) {
    for (i, line) in text.lines().enumerate() {
        for (loader, kind) in LOADERS {
            let mut from = 0;
            while let Some(at) = line[from..].find(loader) {
                let start = from + at;
                from = start + loader.len();
                // A whole identifier: not `my_read_csv(`.
                let before = line[..start].chars().next_back();
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    continue;
                }
                let rest = line[from..].trim_start();
                let Some(args) = rest.strip_prefix('(') else {
                    continue;
                };
                if let Some(name) = first_string(args) {
                    out.push(Asset {
                        kind,
                        name,
                        found_in: format!("{origin}:{}", i + 1),
                        loader: loader.to_string(),
                    });
                }
            }
        }
    }
}

/// The first argument if it is a string literal, or a `model_file=` /
/// `path=` keyword's literal.
fn first_string(args: &str) -> Option<String> {
    let args = args.trim_start();
    literal(args).or_else(|| {
        ["model_file=", "path=", "model_file =", "path ="]
            .iter()
            .find_map(|k| {
                args.find(k)
                    .and_then(|i| literal(args[i + k.len()..].trim_start()))
            })
    })
}

fn literal(s: &str) -> Option<String> {
    let s = s.strip_prefix(['r', 'f']).unwrap_or(s);
    let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = &s[1..];
    let end = body.find(quote)?;
    let value = &body[..end];
    (!value.is_empty() && !value.contains('{')).then(|| value.to_string())
}

/// The code cells of a notebook, as (cell index, source).
pub fn notebook_cells(path: &Path) -> Vec<(usize, String)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(nb) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    nb["cells"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, c)| c["cell_type"] == "code")
        .map(|(i, c)| {
            let source = match &c["source"] {
                serde_json::Value::Array(lines) => {
                    lines.iter().filter_map(|l| l.as_str()).collect()
                }
                serde_json::Value::String(s) => s.clone(),
                _ => String::new(),
            };
            (i, source)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_literal_loads_only() {
        let mut out = Vec::new();
        scan_source(
            "df = pd.read_csv('data/german_credit.csv')\n\
             m = AutoModel.from_pretrained(\"bert-base-uncased\")\n\
             x = pd.read_csv(path)\n\
             y = my_read_csv('no.csv')\n\
             b = xgb.Booster(model_file='model.json')\n",
            "train.py",
            &mut out,
        );
        let got: Vec<(AssetKind, &str, &str)> = out
            .iter()
            .map(|a| (a.kind, a.name.as_str(), a.found_in.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (AssetKind::Dataset, "data/german_credit.csv", "train.py:1"),
                (AssetKind::Model, "bert-base-uncased", "train.py:2"),
                (AssetKind::Model, "model.json", "train.py:5"),
            ]
        );
    }
}
