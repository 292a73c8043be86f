//! `onfs-push plan`

use std::io::Write;

use onfs_core::Plan;

use crate::args::PlanArgs;
use crate::error::{failed, CliResult};
use crate::metadata::load_plan;

pub fn run(args: &PlanArgs) -> CliResult<()> {
    let plan = load_plan(&args.metadata)?;
    let text = if args.json {
        serde_json::to_string_pretty(&plan.to_json()).expect("plan serializes") + "\n"
    } else {
        table(&plan)
    };
    std::io::stdout().write_all(text.as_bytes()).map_err(failed)
}

fn table(plan: &Plan) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "entity: {} (key columns: {})\n",
        plan.entity_label,
        plan.entity_columns.join(", ")
    );
    let _ = writeln!(s, "sources:");
    for m in &plan.feature_mapping {
        let _ = writeln!(s, "  {} {}", m.kind, m.source);
        for (col, renamed) in &m.columns {
            let _ = writeln!(s, "    {col} -> {renamed}");
        }
    }
    let _ = writeln!(s, "\nfeature groups, in message order:");
    let w_label = plan
        .feature_groups
        .iter()
        .map(|g| g.label.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let w_type = plan
        .feature_groups
        .iter()
        .map(|g| g.data_type.to_string().len())
        .max()
        .unwrap_or(0)
        .max(4);
    let _ = writeln!(
        s,
        "  {:w_label$}  {:w_type$}  FEATURE <- COLUMN (DEFAULT)",
        "GROUP", "TYPE"
    );
    for g in &plan.feature_groups {
        for (i, (f, c)) in g.features.iter().zip(&g.columns).enumerate() {
            let (label, dt) = if i == 0 {
                (g.label.clone(), g.data_type.to_string())
            } else {
                (String::new(), String::new())
            };
            let default = plan.column(c).map(|c| c.default.as_str()).unwrap_or("");
            let _ = writeln!(
                s,
                "  {label:w_label$}  {dt:w_type$}  {f} <- {c} ({default:?})"
            );
        }
    }
    s
}
