use std::time::Instant;
use venturalitica_evidence::checkpoint::{Checkpoint, Section};
use venturalitica_evidence::{ReadOptions, Store};
fn main() {
    let root = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let store = Store::existing(&root).unwrap();
    let key = venturalitica_evidence::EvidenceKey::load_default().unwrap();
    let t = Instant::now();
    let cp = Checkpoint::read(store.dir(), &store.trace_path(), &[key.public()]).unwrap();
    println!("header {:?}", t.elapsed());
    let t = Instant::now();
    let o = cp.section(Section::Others).unwrap();
    println!("others {} {:?}", o.len(), t.elapsed());
    let t = Instant::now();
    let c = cp.section(Section::Cells).unwrap();
    println!("cells {} {:?}", c.len(), t.elapsed());
    let t = Instant::now();
    drop(c);
    println!("drop {:?}", t.elapsed());
    let t = Instant::now();
    let r = store
        .read_trail(&ReadOptions {
            payloads: true,
            ..Default::default()
        })
        .unwrap();
    println!("read_trail {} {:?}", r.events.len(), t.elapsed());
}
