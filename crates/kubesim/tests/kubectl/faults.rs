//! The "unreachable" fault as kubectl sees it: with a port per cluster, connecting is refused
//! (kubectl's own wording) and fails at once; on the shared port the connection is closed
//! without an answer. Both recover when the cluster is reachable again.

use std::time::{Duration, Instant};

use crate::harness::{Kubectl, Sim};

fn set_unreachable(sim: &Sim, k: &Kubectl<'_>, unreachable: bool) {
    let cluster = sim.fleet().cluster(&k.context).expect("cluster");
    cluster
        .change_faults(&kubesim::faults::FaultChange {
            unreachable: Some(unreachable),
            ..Default::default()
        })
        .expect("valid change");
}

/// kubectl with a short request timeout, so that a hang fails the test instead of stalling it.
fn timed(k: &Kubectl<'_>, args: &[&str]) -> (crate::harness::Run, Duration) {
    let mut all = vec!["--request-timeout=20s"];
    all.extend_from_slice(args);
    let started = Instant::now();
    let run = k.run(&all);
    (run, started.elapsed())
}

#[test]
fn unreachable_cluster_on_its_own_port_refuses_connections_then_recovers() {
    let sim = Sim::start_with(kubesim::ServeOptions {
        tls: true,
        cluster_ports: Some(0),
    });
    let k = sim.kubectl("1.32");
    k.run(&["create", "configmap", "before", "--from-literal=a=1"])
        .ok();
    set_unreachable(&sim, &k, true);
    let host = sim
        .cluster_url("1.32")
        .trim_start_matches("https://")
        .split('/')
        .next()
        .expect("host:port")
        .to_string();
    // kubectl's two wordings of ECONNREFUSED (client-go does not retry it): a read names
    // the server, a write shows the dial error.
    let refused = format!(
        "The connection to the server {host} was refused - did you specify the right host or port?"
    );
    let dial = format!("dial tcp {host}: connect: connection refused");
    for (args, message) in [
        (&["get", "configmaps"][..], &refused),
        (
            &["create", "configmap", "during", "--from-literal=a=1"][..],
            &dial,
        ),
    ] {
        let (run, took) = timed(&k, args);
        assert_eq!(run.code, 1, "{args:?} must fail: {run:?}");
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
        assert!(took < Duration::from_secs(5), "{args:?} took {took:?}");
    }
    set_unreachable(&sim, &k, false);
    let out = k.run(&["get", "configmaps", "-o", "name"]).ok();
    assert!(out.stdout.contains("configmap/before"), "{}", out.stdout);
    assert!(!out.stdout.contains("configmap/during"), "{}", out.stdout);
    // The other clusters were never affected.
    sim.kubectl("1.33").run(&["get", "namespaces"]).ok();
}

#[test]
fn unreachable_cluster_on_the_shared_port_closes_the_connection() {
    let sim = Sim::start_tls();
    let k = sim.kubectl("1.32");
    set_unreachable(&sim, &k, true);
    // A write is not retried by client-go: it fails as soon as the connection closes.
    let (run, took) = timed(&k, &["create", "configmap", "during", "--from-literal=a=1"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("EOF") || run.stderr.contains("connection reset"),
        "{}",
        run.stderr
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    set_unreachable(&sim, &k, false);
    k.run(&["create", "configmap", "after", "--from-literal=a=1"])
        .ok();
}
