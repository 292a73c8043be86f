//! Encoder throughput on a realistic row: 8 FP32, 2 String, 4 Int64, 2 Bool, one FP32Vector of
//! 32 and one StringVector of 3 items (about 440 bytes per row), on one thread.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use onfs_core::sample::{realistic_batch, realistic_plan};
use onfs_core::{Encoder, EncoderOptions, StoreRules, VectorFit};

fn bench(c: &mut Criterion) {
    let rows = 100_000;
    let plan = realistic_plan();
    let batches: Vec<_> = (0..rows / 8192 + 1)
        .map(|i| realistic_batch(i * 8192, 8192.min(rows - (i * 8192).min(rows))))
        .filter(|b| b.num_rows() > 0)
        .collect();
    let mut probe = Encoder::new(&plan, EncoderOptions::default());
    let mut messages = Vec::new();
    for b in &batches {
        probe.encode_into(b, &mut messages).unwrap();
    }
    messages.extend(probe.finish());
    let bytes: usize = messages.iter().map(|m| m.value.len()).sum();
    eprintln!("realistic row: {} bytes per row on the wire", bytes / rows);

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(rows as u64));
    group.sample_size(20);
    // The store's length rule (the default `check`: every vector's length counted), beside the
    // original's bytes with no check (`keep`) and declared lengths (`pad`), in one run.
    let store = |fit: VectorFit, lengths: &[(&str, usize)]| EncoderOptions {
        store: StoreRules {
            vector_lengths: lengths.iter().map(|(f, n)| (f.to_string(), *n)).collect(),
            vector_fit: fit,
        },
        ..Default::default()
    };
    let declared = [("user_emb.embedding", 32), ("user_tags.tags", 3)];
    for (name, opts) in [
        ("realistic_row_batch20", store(VectorFit::Check, &[])),
        ("realistic_row_batch20_keep", store(VectorFit::Keep, &[])),
        (
            "realistic_row_batch20_declared_pad",
            store(VectorFit::Pad, &declared),
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut enc = Encoder::new(&plan, opts.clone());
                // Messages are handed on as they complete, as a sink takes them.
                let mut out = Vec::new();
                let mut bytes = 0;
                for batch in &batches {
                    enc.encode_into(batch, &mut out).unwrap();
                    bytes += out.drain(..).map(|m| m.value.len()).sum::<usize>();
                }
                bytes + enc.finish().iter().map(|m| m.value.len()).sum::<usize>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
