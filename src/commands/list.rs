//! `husk list`: every container under `--root`, as a table, JSON or ids.

use crate::cli::{ListArgs, ListFormat};
use crate::commands::state::oci_state;
use crate::commands::{CommandError, Context};
use crate::state::State;
use std::io::Write;

pub fn run(ctx: &Context, args: &ListArgs) -> Result<i32, CommandError> {
    let mut rows = Vec::new();
    for id in ctx.store.list() {
        let Ok(dir) = ctx.store.open(&id) else {
            continue;
        };
        let Ok(state) = dir.load() else { continue };
        let status = dir.status(&state);
        rows.push((state, status));
    }
    let mut out = std::io::stdout().lock();
    if args.quiet {
        for (s, _) in &rows {
            let _ = writeln!(out, "{}", s.id);
        }
        return Ok(0);
    }
    match args.format {
        ListFormat::Json => {
            let v: Vec<_> = rows.iter().map(|(s, st)| oci_state(s, *st)).collect();
            let _ = writeln!(out, "{}", serde_json::to_string(&v).expect("serializes"));
        }
        ListFormat::Table => {
            let mut table =
                vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
            for (s, st) in &rows {
                table.push(row(s, &oci_state(s, *st).pid.to_string(), &st.to_string()));
            }
            let _ = out.write_all(format_table(&table).as_bytes());
        }
    }
    Ok(0)
}

fn row(s: &State, pid: &str, status: &str) -> [String; 6] {
    [
        s.id.clone(),
        pid.to_string(),
        status.to_string(),
        s.bundle.display().to_string(),
        s.created.clone(),
        if s.owner.is_empty() {
            "root".into()
        } else {
            s.owner.clone()
        },
    ]
}

/// Columns padded to the widest cell plus padding, as Go's tabwriter prints them.
fn format_table(rows: &[[String; 6]]) -> String {
    let mut widths = [0usize; 6];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut s = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}", w = widths[i] + 4));
            }
        }
        s.push('\n');
    }
    s
}
