//! A kubesim fleet in process and the real kubectl binaries pointed at it.

use kubesim::{Fleet, Server};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

/// The kubectl builds every scenario runs with.
pub(crate) const VERSIONS: &[&str] = &["1.29", "1.32", "1.33"];

/// A running fleet with one cluster per kubectl version, and a scratch directory.
pub(crate) struct Sim {
    runtime: tokio::runtime::Runtime,
    server: Option<Server>,
    pub(crate) dir: TempDir,
    kubeconfig: PathBuf,
}

/// One kubectl version bound to its own cluster.
pub(crate) struct Kubectl<'a> {
    sim: &'a Sim,
    pub(crate) version: &'static str,
    pub(crate) context: String,
}

/// What a kubectl run produced.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Panic with the whole transcript unless the exit code is `code`.
    #[track_caller]
    pub(crate) fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panic unless it succeeded.
    #[track_caller]
    pub(crate) fn ok(self) -> Run {
        self.expect_code(0)
    }
}

impl Sim {
    /// Start a fleet with a cluster for every kubectl version, over plain HTTP.
    pub(crate) fn start() -> Sim {
        Sim::start_with(kubesim::ServeOptions::default())
    }

    /// Start the fleet over TLS: the kubeconfig carries the CA and each cluster's admin token.
    pub(crate) fn start_tls() -> Sim {
        Sim::start_with(kubesim::ServeOptions {
            tls: true,
            ..Default::default()
        })
    }

    /// Start the fleet as `options` say.
    pub(crate) fn start_with(options: kubesim::ServeOptions) -> Sim {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let names: Vec<String> = VERSIONS.iter().map(|v| context_name(v)).collect();
        let fleet = Fleet::new(&names, kubesim::FleetConfig::default());
        let listen = "127.0.0.1:0".parse().expect("addr");
        let server = runtime
            .block_on(Server::start_with(fleet, listen, options))
            .expect("kubesim starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        server.write_kubeconfig(&kubeconfig).expect("kubeconfig");
        Sim {
            runtime,
            server: Some(server),
            dir,
            kubeconfig,
        }
    }

    /// kubectl of `version`, on that version's cluster.
    pub(crate) fn kubectl(&self, version: &'static str) -> Kubectl<'_> {
        Kubectl {
            sim: self,
            version,
            context: context_name(version),
        }
    }

    /// The simulated fleet, for changes made behind kubectl's back.
    pub(crate) fn fleet(&self) -> &std::sync::Arc<kubesim::Fleet> {
        self.server.as_ref().expect("running").fleet()
    }

    /// The served URL of one kubectl version's cluster.
    pub(crate) fn cluster_url(&self, version: &str) -> String {
        self.server
            .as_ref()
            .expect("running")
            .cluster_url(&context_name(version))
    }

    /// Write a file in the scratch directory and return its path.
    pub(crate) fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, content).expect("write");
        path
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _guard = self.runtime.enter();
        self.server.take();
    }
}

fn context_name(version: &str) -> String {
    format!("kubectl-{}", version.replace('.', "-"))
}

fn kubectl_bin(version: &str) -> PathBuf {
    let dir =
        std::env::var("KUBECTL_DIR").unwrap_or_else(|_| "/usr/lib/google-cloud-sdk/bin".into());
    let bin = Path::new(&dir).join(format!("kubectl.{version}"));
    assert!(
        bin.exists(),
        "{} is missing: the kubectl black-box tests need it (set KUBECTL_DIR)",
        bin.display()
    );
    bin
}

impl Kubectl<'_> {
    /// A command with the kubeconfig, context and an isolated cache and home.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(kubectl_bin(self.version));
        let home = self.sim.dir.path().join(format!("home-{}", self.version));
        cmd.env("KUBECONFIG", &self.sim.kubeconfig)
            .env("HOME", &home)
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .arg("--context")
            .arg(&self.context)
            .arg("--cache-dir")
            .arg(home.join("cache"))
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Run kubectl and capture its output.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("kubectl runs");
        to_run(out)
    }

    /// Run kubectl with extra environment variables.
    pub(crate) fn run_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        to_run(cmd.output().expect("kubectl runs"))
    }
}

fn to_run(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run `scenario` once per kubectl version, each on its own cluster of one fleet.
pub(crate) fn for_each_version(scenario: impl Fn(&Sim, &Kubectl<'_>)) {
    let sim = Sim::start();
    for v in VERSIONS {
        let k = sim.kubectl(v);
        scenario(&sim, &k);
    }
}
