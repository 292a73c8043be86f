//! The read-back: the sampled entities asked from the store in batches, each (entity, group)
//! classified, and what does not match yet asked again with backoff until it does or the wait is
//! over.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use onfs_core::Plan;

use crate::client::{StoreClient, VerifyOptions};
use crate::compare::{classify, Expected, GroupSpec};
use crate::error::VerifyError;
use crate::proto::{FeatureGroup, Keys, Query};
use crate::report::{Class, Counts, Example, GroupReport, VerifyReport, MAX_EXAMPLES};
use crate::sample::{Sample, Schema};

/// The first pause before reading again, doubled up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Reads the sampled entities back and compares them (blocking; runs its own tokio runtime).
/// Must not be called from within a tokio runtime: use [`verify_async`] there.
pub fn verify(
    plan: &Plan,
    sample: &Sample,
    opts: &VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(VerifyError::Runtime)?;
    runtime.block_on(verify_async(plan, sample, opts))
}

/// Entities sharing a message schema, read with one kind of query.
struct Batch {
    schema: Arc<Schema>,
    specs: Vec<GroupSpec>,
    entities: Vec<usize>,
}

/// Reads the sampled entities back and compares them.
pub async fn verify_async(
    plan: &Plan,
    sample: &Sample,
    opts: &VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    let start = Instant::now();
    let mut batches: Vec<Batch> = Vec::new();
    // Per entity: its batch, and what was sent for each group of the batch.
    let mut expected: Vec<(usize, Vec<Expected>)> = Vec::with_capacity(sample.entities.len());
    for (i, entity) in sample.entities.iter().enumerate() {
        let schema = &entity.latest().schema;
        let b = match batches.iter().position(|b| *b.schema == **schema) {
            Some(b) => b,
            None => {
                let specs = schema
                    .groups
                    .iter()
                    .filter_map(|(label, features)| GroupSpec::new(plan, label, features))
                    .collect();
                batches.push(Batch {
                    schema: schema.clone(),
                    specs,
                    entities: Vec::new(),
                });
                batches.len() - 1
            }
        };
        batches[b].entities.push(i);
        let sent = batches[b]
            .specs
            .iter()
            .map(|spec| Expected::of(entity, spec))
            .collect::<Result<Vec<_>, _>>()?;
        expected.push((b, sent));
    }

    if !batches.is_empty() && batches.iter().all(|b| b.specs.is_empty()) {
        let mut sent: Vec<&str> = Vec::new();
        for b in &batches {
            for (label, _) in &b.schema.groups {
                if !sent.contains(&label.as_str()) {
                    sent.push(label);
                }
            }
        }
        let planned: Vec<&str> = plan
            .feature_groups
            .iter()
            .map(|g| g.label.as_str())
            .collect();
        return Err(VerifyError::NoCommonGroups {
            sent: sent.join(", "),
            planned: planned.join(", "),
        });
    }

    let mut outcomes: Vec<Vec<(Class, Option<Example>)>> = vec![Vec::new(); expected.len()];
    let mut polls = 0;
    let wanted = batches
        .iter()
        .any(|b| !b.specs.is_empty() && !b.entities.is_empty());
    if wanted {
        let mut client = StoreClient::connect(opts).await?;
        let deadline = start + opts.wait;
        let mut pending: Vec<usize> = (0..expected.len()).collect();
        let mut delay = FIRST_DELAY;
        loop {
            polls += 1;
            for (b, batch) in batches.iter().enumerate() {
                let mine: Vec<usize> = pending
                    .iter()
                    .copied()
                    .filter(|&e| expected[e].0 == b)
                    .collect();
                if batch.specs.is_empty() {
                    continue;
                }
                for chunk in mine.chunks(opts.keys_per_request.max(1)) {
                    // A re-read stops at the deadline: what it did not reach keeps the
                    // previous read's outcome.
                    if polls > 1 && Instant::now() >= deadline {
                        break;
                    }
                    let found = read(&mut client, sample, batch, chunk, &expected).await?;
                    for (e, outcome) in chunk.iter().zip(found) {
                        outcomes[*e] = outcome;
                    }
                }
            }
            pending.retain(|&e| !outcomes[e].iter().all(|(c, _)| c.settled()));
            let now = Instant::now();
            if pending.is_empty() || now >= deadline {
                break;
            }
            let pause = delay.min(deadline - now);
            tracing::info!(
                "{} of {} entities do not match yet; reading them again in {:.1}s",
                pending.len(),
                expected.len(),
                pause.as_secs_f64()
            );
            tokio::time::sleep(pause).await;
            delay = (delay * 2).min(MAX_DELAY);
        }
    }

    // Per group, in plan order.
    let mut groups: Vec<GroupReport> = Vec::new();
    let mut totals = Counts::default();
    for (i, (b, _)) in expected.iter().enumerate() {
        for (spec, (class, example)) in batches[*b].specs.iter().zip(&outcomes[i]) {
            let g = match groups.iter().position(|g| g.group == spec.label) {
                Some(g) => g,
                None => {
                    groups.push(GroupReport {
                        group: spec.label.clone(),
                        data_type: spec.data_type.to_string(),
                        counts: Counts::default(),
                        examples: Vec::new(),
                    });
                    groups.len() - 1
                }
            };
            groups[g].counts.add(*class);
            totals.add(*class);
            if let Some(example) = example {
                if groups[g].examples.len() < MAX_EXAMPLES {
                    groups[g].examples.push(example.clone());
                }
            }
        }
    }
    let order: HashMap<&str, usize> = plan
        .feature_groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.label.as_str(), i))
        .collect();
    groups.sort_by_key(|g| order.get(g.group.as_str()).copied().unwrap_or(usize::MAX));
    let entity_label = batches
        .first()
        .map(|b| b.schema.entity_label.clone())
        .unwrap_or_else(|| plan.entity_label.clone());
    let mut report = VerifyReport {
        store: opts.store.clone(),
        entity_label,
        messages: sample.messages,
        rows: sample.rows,
        entities: sample.entities.len() as u64,
        polls,
        seconds: start.elapsed().as_secs_f64(),
        groups,
        totals,
        ok: false,
    };
    report.ok = report.ok();
    Ok(report)
}

/// One request for `chunk` (entity indices of `batch`): each entity's outcome per group.
async fn read(
    client: &mut StoreClient,
    sample: &Sample,
    batch: &Batch,
    chunk: &[usize],
    expected: &[(usize, Vec<Expected>)],
) -> Result<Vec<Vec<(Class, Option<Example>)>>, VerifyError> {
    let query = Query {
        entity_label: batch.schema.entity_label.clone(),
        feature_groups: batch
            .specs
            .iter()
            .map(|s| FeatureGroup {
                label: s.label.clone(),
                feature_labels: s.features.clone(),
            })
            .collect(),
        keys_schema: batch.schema.keys_schema.clone(),
        keys: chunk
            .iter()
            .map(|&e| Keys {
                cols: sample.entities[e].keys.clone(),
            })
            .collect(),
    };
    let result = client.retrieve(query).await?;
    if result.rows.len() != chunk.len() {
        return Err(VerifyError::Protocol {
            store: client.store().to_string(),
            rows: result.rows.len(),
            keys: chunk.len(),
        });
    }
    // Where each (group, feature) is among a row's columns: as the answer's schema says, else
    // in request order.
    let mut columns: HashMap<(&str, &str), usize> = HashMap::new();
    for fs in &result.feature_schemas {
        for f in &fs.features {
            columns.insert(
                (fs.feature_group_label.as_str(), f.label.as_str()),
                f.column_idx.max(0) as usize,
            );
        }
    }
    let mut next = 0;
    let positions: Vec<Vec<usize>> = batch
        .specs
        .iter()
        .map(|s| {
            s.features
                .iter()
                .map(|f| {
                    let p = columns
                        .get(&(s.label.as_str(), f.as_str()))
                        .copied()
                        .unwrap_or(next);
                    next += 1;
                    p
                })
                .collect()
        })
        .collect();
    let mut out = Vec::with_capacity(chunk.len());
    for (row, &e) in result.rows.iter().zip(chunk) {
        let key = sample.entities[e].key_text();
        let mut per_group = Vec::with_capacity(batch.specs.len());
        for (s, spec) in batch.specs.iter().enumerate() {
            let stored: Vec<&[u8]> = positions[s]
                .iter()
                .map(|&p| row.columns.get(p).map(Vec::as_slice).unwrap_or(&[]))
                .collect();
            per_group.push(classify(spec, &expected[e].1[s], &stored, &key)?);
        }
        out.push(per_group);
    }
    Ok(out)
}

/// The store's retrieval API checked without reading an entity: it answers at its address, and
/// takes the caller id (and token) with a read of no keys for `entity_label`. A refusal, no
/// answer or a bad address is the error; any other answer (an empty result, or a complaint
/// about the empty read) means the store and the caller are reachable and accepted.
pub fn check_store(opts: &VerifyOptions, entity_label: &str) -> Result<(), VerifyError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(VerifyError::Runtime)?;
    runtime.block_on(async {
        let mut client = StoreClient::connect(opts).await?;
        let query = Query {
            entity_label: entity_label.to_string(),
            ..Default::default()
        };
        match client.retrieve(query).await {
            Ok(_) | Err(VerifyError::Status { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    })
}
