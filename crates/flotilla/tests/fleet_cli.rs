//! `flotilla demo` and `flotilla bench fleet` as a user runs them: whole processes, the
//! hub reconciling simulated clusters from local Git repositories.

use std::process::Command;

use serde_json::Value;

#[test]
fn the_demo_converges_a_small_fleet_and_leaves_its_kubeconfigs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args([
            "demo",
            "--clusters",
            "4",
            "--apps",
            "2",
            "--exit-when-converged",
        ])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Clusters 0, 1 and 2 are production (every fourth is staging): 3 × 2 Applications.
    let total = stdout
        .lines()
        .find(|l| l.starts_with("total"))
        .unwrap_or_else(|| panic!("no total line in\n{stdout}"));
    let figures: Vec<&str> = total.split_whitespace().skip(1).collect();
    assert_eq!(figures, ["6", "6", "6"], "{stdout}");
    assert!(data.join("hub.kubeconfig").is_file());
    let clusters: Value =
        serde_json::from_slice(&std::fs::read(data.join("clusters.kubeconfig")).unwrap()).unwrap();
    let contexts: Vec<&str> = clusters["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        contexts,
        ["cluster-000", "cluster-001", "cluster-002", "cluster-003"]
    );
}

#[test]
fn the_fleet_benchmark_reports_every_figure() {
    let out = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args([
            "bench",
            "fleet",
            "--clusters",
            "4",
            "--apps",
            "2",
            "--drift",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["clusters"], 4);
    assert_eq!(report["apps"], 2);
    assert_eq!(report["applications"], 6);
    // Each app's chart renders a Deployment, a Service and a ConfigMap.
    assert_eq!(report["objects"], 18);
    assert_eq!(report["drift_clusters"], 2);
    let figure = |key: &str| {
        report[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing in {report}"))
    };
    for key in [
        "cold_start_s",
        "commit_to_converged_s",
        "drift_detect_s",
        "drift_heal_s",
        "hub_cpu_s",
        "hub_peak_rss_mib",
        "floor_s",
        "overhead_ratio",
        "appset_resync_s",
        "hub_writes_s",
    ] {
        assert!(figure(key) > 0.0, "{key} = {} in {report}", figure(key));
    }
    // A drift is healed only after it was seen.
    assert!(
        figure("drift_detect_s") <= figure("drift_heal_s"),
        "{report}"
    );
    // The ratio is computed before the figures are rounded to milliseconds; a floor of a
    // few tens of milliseconds makes the rounded quotient differ by a few percent.
    let ratio = figure("cold_start_s") / figure("floor_s");
    assert!(
        (ratio - figure("overhead_ratio")).abs() <= 0.05 * ratio,
        "{report}"
    );
    let bound = (figure("floor_s") + figure("hub_writes_s")) / figure("floor_s");
    assert!(
        (bound - figure("write_bound_ratio")).abs() <= 0.05 * bound,
        "{report}"
    );
}
