//! Cross-node: broadcasts published on node A of a Redis cluster, clients on node B (or spread
//! over both with `--split`). `--baseline` runs the same shape on one node (clients and
//! broadcasts on A) in the same run: the ratio is cross-node against single-node.
//!
//! Nodes: two `--url`s (node A first; the trigger defaults to A's control API), or, without
//! `--url`, two embedded phx-servers with their own backplanes on `--redis` (as two processes
//! would have), under a prefix of their own.

use phx_server::pubsub::redis::RedisConfig;

use super::report::Outcome;
use super::runtime::ServerRuntime;
use super::{fanout, BenchError, BenchOptions, Subject};

/// Runs the cross-node shape, then the single-node one with `--baseline`.
pub async fn run(opts: &BenchOptions) -> Result<Outcome, BenchError> {
    let rt = ServerRuntime::start(2).map_err(BenchError::Unreachable)?;
    let (a, b) = match (opts.urls.as_slice(), &opts.redis) {
        ([a, b], _) => (Subject::remote(a, opts.server_pid), Subject::remote(b, None)),
        ([], Some(redis)) => {
            let mut config = RedisConfig::new(redis.clone());
            config.prefix = format!("phx-bench:{}", std::process::id());
            let a = Subject::embedded(rt.clone(), "bench-a@127.0.0.1", Some(config.clone())).await?;
            let b = Subject::embedded(rt.clone(), "bench-b@127.0.0.1", Some(config)).await?;
            (a, b)
        }
        _ => {
            return Err(BenchError::Usage(
                "cross-node needs two --url (node A, then node B) or --redis URL for two embedded nodes".into(),
            ))
        }
    };
    let trigger = a.trigger(opts).await?;
    let (ta, tb) = (a.target(opts)?, b.target(opts)?);
    let targets = if opts.split {
        vec![ta.clone(), tb]
    } else {
        vec![tb]
    };
    let name = format!(
        "{} → {} ({})",
        a.name,
        b.name,
        if opts.split {
            "clients split over both"
        } else {
            "clients on node B"
        }
    );
    let mut report = fanout::measure(opts, &targets, &trigger, a.cpu, &name).await?;
    report.judge_generator(opts.threads);
    let baseline = if opts.baseline {
        let mut single = fanout::measure(
            opts,
            &[ta],
            &trigger,
            a.cpu,
            &format!("{} alone (single node)", a.name),
        )
        .await?;
        single.judge_generator(opts.threads);
        Some(single)
    } else {
        None
    };
    Ok(Outcome {
        report,
        baseline,
        baseline_label: "single node: the same shape with clients on node A",
    })
}
