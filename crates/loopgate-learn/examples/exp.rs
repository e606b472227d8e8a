use loopgate_learn::classifier::{Classifier, ClassifierConfig};
fn load(p: &str) -> Vec<(String, String)> {
    let mut r = csv::Reader::from_path(p).unwrap();
    r.records()
        .map(|x| {
            let x = x.unwrap();
            (x[0].to_string(), x[1].to_string())
        })
        .collect()
}
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let alpha: f32 = a[1].parse().unwrap();
    let beta: f32 = a[2].parse().unwrap();
    let l1: f32 = a[3].parse().unwrap();
    let l2: f32 = a[4].parse().unwrap();
    let passes: usize = a[5].parse().unwrap();
    let train = load("/work/shared/data/banking77/train.csv");
    let test = load("/work/shared/data/banking77/test.csv");
    if let Ok(v) = std::env::var("IDF") {
        let pw: f32 = v.parse().unwrap();
        let h = loopgate_learn::features::Hasher::new(
            std::env::var("BITS")
                .map(|v| v.parse().unwrap())
                .unwrap_or(18),
        );
        let mut df = vec![0f32; h.buckets()];
        for (t, _) in &train {
            for f in h.features(t) {
                df[f.bucket as usize] += 1.0;
            }
        }
        let n = train.len() as f32;
        let idf: Vec<f32> = df
            .iter()
            .map(|d| (((n + 1.0) / (d + 1.0)).ln() + 1.0).powf(pw))
            .collect();
        loopgate_learn::features::IDF.set(idf).unwrap();
    }
    if let Ok(v) = std::env::var("ENT") {
        let pw: f32 = v.parse().unwrap();
        let sm: f32 = std::env::var("SM")
            .map(|v| v.parse().unwrap())
            .unwrap_or(0.1);
        let h = loopgate_learn::features::Hasher::new(18);
        let mut labels: Vec<&String> = train.iter().map(|x| &x.1).collect();
        labels.sort();
        labels.dedup();
        let k = labels.len();
        let mut cnt: std::collections::HashMap<u32, Vec<f32>> = Default::default();
        for (t, l) in &train {
            let c = labels.binary_search(&l).unwrap();
            for f in h.features(t) {
                cnt.entry(f.bucket).or_insert_with(|| vec![0.0; k])[c] += 1.0;
            }
        }
        let mut w = vec![0.0f32; h.buckets()];
        for (b, v) in cnt {
            let tot: f32 = v.iter().sum::<f32>() + sm * k as f32;
            let hh: f32 = v
                .iter()
                .map(|&x| {
                    let p = (x + sm) / tot;
                    -p * p.ln()
                })
                .sum();
            w[b as usize] = (1.0 - hh / (k as f32).ln()).max(0.0).powf(pw);
        }
        loopgate_learn::features::IDF.set(w).unwrap();
    }
    let mut c = Classifier::new(ClassifierConfig {
        hash_bits: std::env::var("BITS")
            .map(|v| v.parse().unwrap())
            .unwrap_or(18),
        alpha,
        beta,
        l1,
        l2,
    })
    .unwrap();
    let t = std::time::Instant::now();
    for p in 0..passes {
        c.fit(&train, 1, p as u64);
        let acc = test
            .iter()
            .filter(|(t, l)| c.predict(t).unwrap().label == *l)
            .count() as f64
            / test.len() as f64;
        println!("pass {} acc {:.4} ", p + 1, acc);
    }
    {
        let mut cnt: std::collections::HashMap<&str, f64> = Default::default();
        for (_, l) in &train {
            *cnt.entry(l.as_str()).or_default() += 1.0;
        }
        for tau in [0.0, 0.25, 0.5, 1.0] {
            let acc = test
                .iter()
                .filter(|(t, l)| {
                    let s = c.scores(t);
                    let best = s
                        .logits
                        .iter()
                        .enumerate()
                        .map(|(i, &z)| (i, z - tau * cnt[c.classes()[i].as_str()].ln()))
                        .max_by(|a, b| a.1.total_cmp(&b.1))
                        .unwrap()
                        .0;
                    c.classes()[best] == *l
                })
                .count() as f64
                / test.len() as f64;
            let tr = train
                .iter()
                .filter(|(t, l)| c.predict(t).unwrap().label == *l)
                .count() as f64
                / train.len() as f64;
            println!("tau {tau} acc {acc:.4} train acc {tr:.4}");
        }
    }
    let el = t.elapsed().as_secs_f64();
    println!(
        "train {:.0} upd/s rows {} mem {} MB",
        (passes * train.len()) as f64 / el,
        c.rows(),
        c.memory_bytes() / 1_000_000
    );
    let t = std::time::Instant::now();
    let mut n = 0;
    for (x, _) in &test {
        n += c.predict(x).unwrap().label.len();
    }
    println!(
        "predict {:.0}/s {}",
        test.len() as f64 / t.elapsed().as_secs_f64(),
        n
    );
}
