//! Times the engine on an in-memory frame, and a bare polars group-by of the
//! same counts as the floor. Driven by `bench/bench.py`; prints one JSON line.
//!
//! Usage: bench_engine DATA.parquet POLICY.yaml REPEATS

use std::path::PathBuf;
use std::time::Instant;

use polars::prelude::*;
use venturalitica_engine::{evaluate, DataSet, Mapping, References};
use venturalitica_policy::load_policy;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, data, policy, repeats] = args.as_slice() else {
        return Err("usage: bench_engine DATA.parquet POLICY.yaml REPEATS".into());
    };
    let repeats: usize = repeats.parse()?;
    let policy = load_policy(&PathBuf::from(policy))?;
    let df = LazyFrame::scan_parquet(PlRefPath::new(data.as_str()), ScanArgsParquet::default())?
        .collect()?;
    let mapping = Mapping::new();

    let mut engine = Vec::new();
    for _ in 0..repeats {
        let start = Instant::now();
        let results = evaluate(
            &policy,
            DataSet {
                frame: df.clone().lazy(),
                streaming: false,
                source: "bench".into(),
            },
            &mapping,
            &References::none(),
        )?;
        engine.push(start.elapsed().as_secs_f64());
        assert!(
            results.controls.iter().all(|c| c.actual_value.is_some()),
            "{:?}",
            results.controls[0].reason
        );
    }

    let mut floor = Vec::new();
    for _ in 0..repeats {
        let start = Instant::now();
        let y = col("target").eq(lit(1i64));
        let p = col("prediction").eq(lit(1i64));
        let counts = df
            .clone()
            .lazy()
            .group_by([col("group")])
            .agg([
                len().alias("n"),
                y.clone().and(p.clone()).sum().alias("tp"),
                y.clone().not().and(p.clone()).sum().alias("fp"),
                y.clone().and(p.clone().not()).sum().alias("fn"),
                y.not().and(p.not()).sum().alias("tn"),
            ])
            .collect()?;
        floor.push(start.elapsed().as_secs_f64());
        assert!(counts.height() > 1);
    }
    println!(
        "{{\"rows\": {}, \"engine_s\": {}, \"floor_s\": {}}}",
        df.height(),
        median(engine),
        median(floor)
    );
    Ok(())
}
