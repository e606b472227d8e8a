//! Throughput of the embedded model on BANKING77 texts: online updates per second
//! (`learn`, hashing included) and predictions per second (`predict`). Criterion reports
//! them as elements per second.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loopgate_learn::classifier::{Classifier, ClassifierConfig, FitOptions};

fn load(name: &str) -> Vec<(String, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/banking77")
        .join(name);
    let mut reader = csv::Reader::from_path(&path).expect("BANKING77 csv");
    reader
        .records()
        .map(|r| {
            let r = r.expect("csv record");
            (r[0].to_owned(), r[1].to_owned())
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let train = load("train.csv");
    let test = load("test.csv");
    let mut trained = Classifier::new(ClassifierConfig::default()).expect("default config");
    trained.fit(&train, &FitOptions::default()).expect("fit");
    eprintln!(
        "model: {} classes, {} rows, {:.1} MB in memory, {:.1} MB serialized",
        trained.classes().len(),
        trained.rows(),
        trained.memory_bytes() as f64 / 1e6,
        trained.to_bytes().len() as f64 / 1e6,
    );

    const BATCH: usize = 1_000;
    let mut group = c.benchmark_group("classifier");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));

    // Updates on a fully grown model (77 classes): the steady state of a live policy.
    let mut online = trained.clone();
    let mut i = 0;
    group.bench_function("learn", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let (text, label) = &train[i % train.len()];
                online.learn(black_box(text), black_box(label));
                i += 1;
            }
        })
    });

    let mut j = 0;
    group.bench_function("predict", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let (text, _) = &test[j % test.len()];
                black_box(trained.predict(black_box(text)));
                j += 1;
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
