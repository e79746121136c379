//! Authentication and RBAC over TLS with tokens and client certificates: `auth can-i`,
//! `auth whoami`, impersonation and the API server's 403 wording, as kubectl shows them.

use crate::harness::{Kubectl, Sim};

const FLUX: &str = "system:serviceaccount:t1:flux";

/// Namespaces t1 and t2 and the ServiceAccount t1/flux.
fn tenants(k: &Kubectl<'_>) {
    k.run(&["create", "namespace", "t1"]).ok();
    k.run(&["create", "namespace", "t2"]).ok();
    k.run(&["create", "serviceaccount", "flux", "-n", "t1"])
        .ok();
}

fn each_version_over_tls(scenario: impl Fn(&Sim, &Kubectl<'_>)) {
    let sim = Sim::start_tls();
    for v in crate::harness::VERSIONS {
        let k = sim.kubectl(v);
        scenario(&sim, &k);
    }
}

#[test]
fn whoami_names_the_admin_and_the_impersonated_service_account() {
    each_version_over_tls(|_, k| {
        let out = k.run(&["auth", "whoami"]).ok();
        assert!(
            out.stdout.contains("kubesim-admin")
                && out.stdout.contains("[system:masters system:authenticated]"),
            "kubectl {}:\n{}",
            k.version,
            out.stdout
        );
        let out = k.run(&["auth", "whoami", "--as", FLUX]).ok();
        assert!(
            out.stdout.contains(FLUX)
                && out.stdout.contains(
                    "[system:serviceaccounts system:serviceaccounts:t1 system:authenticated]"
                ),
            "kubectl {}:\n{}",
            k.version,
            out.stdout
        );
    });
}

#[test]
fn can_i_follows_role_bindings() {
    each_version_over_tls(|_, k| {
        tenants(k);
        let no = k
            .run(&[
                "auth", "can-i", "create", "deploy", "-n", "t2", "--as", FLUX,
            ])
            .expect_code(1);
        assert_eq!(no.stdout.trim(), "no", "kubectl {}", k.version);
        let no = k
            .run(&[
                "auth", "can-i", "create", "deploy", "-n", "t1", "--as", FLUX,
            ])
            .expect_code(1);
        assert_eq!(no.stdout.trim(), "no");

        k.run(&[
            "create",
            "rolebinding",
            "flux-edit",
            "-n",
            "t1",
            "--clusterrole=edit",
            "--serviceaccount=t1:flux",
        ])
        .ok();
        let yes = k
            .run(&[
                "auth", "can-i", "create", "deploy", "-n", "t1", "--as", FLUX,
            ])
            .ok();
        assert_eq!(yes.stdout.trim(), "yes", "kubectl {}", k.version);
        // The binding is namespaced: t2 stays closed, and so do cluster-scoped kinds.
        let no = k
            .run(&[
                "auth", "can-i", "create", "deploy", "-n", "t2", "--as", FLUX,
            ])
            .expect_code(1);
        assert_eq!(no.stdout.trim(), "no");
        k.run(&["auth", "can-i", "list", "namespaces", "--as", FLUX])
            .expect_code(1);
        // The admin may do anything.
        let yes = k.run(&["auth", "can-i", "*", "*"]).ok();
        assert_eq!(yes.stdout.trim(), "yes");
    });
}

#[test]
fn can_i_list_shows_the_rules_of_a_service_account() {
    each_version_over_tls(|_, k| {
        tenants(k);
        let out = k
            .run(&["auth", "can-i", "--list", "-n", "t1", "--as", FLUX])
            .ok();
        let row = |resource: &str| {
            out.stdout
                .lines()
                .find(|l| l.split_whitespace().next() == Some(resource))
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
        };
        assert_eq!(
            row("selfsubjectaccessreviews.authorization.k8s.io"),
            Some(vec![
                "selfsubjectaccessreviews.authorization.k8s.io",
                "[]",
                "[]",
                "[create]"
            ]),
            "kubectl {}:\n{}",
            k.version,
            out.stdout
        );
        assert!(out.stdout.contains("[/version]"), "{}", out.stdout);
        assert!(row("deployments.apps").is_none(), "{}", out.stdout);

        k.run(&[
            "create",
            "rolebinding",
            "flux-view",
            "-n",
            "t1",
            "--clusterrole=view",
            "--serviceaccount=t1:flux",
        ])
        .ok();
        let out = k
            .run(&["auth", "can-i", "--list", "-n", "t1", "--as", FLUX])
            .ok();
        let deployments = out
            .stdout
            .lines()
            .find(|l| l.starts_with("deployments.apps "))
            .unwrap_or_else(|| panic!("kubectl {}:\n{}", k.version, out.stdout));
        assert!(deployments.ends_with("[get list watch]"), "{deployments}");
    });
}

#[test]
fn forbidden_requests_answer_the_api_servers_text() {
    each_version_over_tls(|_, k| {
        tenants(k);
        let out = k
            .run(&["get", "cm", "-n", "t2", "--as", FLUX])
            .expect_code(1);
        assert_eq!(
            out.stderr.trim(),
            "Error from server (Forbidden): configmaps is forbidden: User \"system:serviceaccount:t1:flux\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"t2\"",
            "kubectl {}",
            k.version
        );
        let out = k
            .run(&["get", "deploy", "web", "-n", "t2", "--as", FLUX])
            .expect_code(1);
        assert_eq!(
            out.stderr.trim(),
            "Error from server (Forbidden): deployments.apps \"web\" is forbidden: User \"system:serviceaccount:t1:flux\" cannot get resource \"deployments\" in API group \"apps\" in the namespace \"t2\""
        );
        let out = k.run(&["get", "ns", "--as", FLUX]).expect_code(1);
        assert_eq!(
            out.stderr.trim(),
            "Error from server (Forbidden): namespaces is forbidden: User \"system:serviceaccount:t1:flux\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
        );
    });
}

#[test]
fn service_account_tokens_authenticate_as_the_service_account() {
    each_version_over_tls(|_, k| {
        tenants(k);
        k.run(&[
            "create",
            "rolebinding",
            "flux-edit",
            "-n",
            "t1",
            "--clusterrole=edit",
            "--serviceaccount=t1:flux",
        ])
        .ok();
        let token = k.run(&["create", "token", "flux", "-n", "t1"]).ok();
        let token = token.stdout.trim().to_string();
        assert!(!token.is_empty());
        let as_flux = |args: &[&str]| {
            let mut all = vec!["--token", token.as_str()];
            all.extend_from_slice(args);
            k.run(&all)
        };
        let out = as_flux(&["auth", "whoami"]).ok();
        assert!(out.stdout.contains(FLUX), "{}", out.stdout);
        as_flux(&["create", "configmap", "c", "-n", "t1", "--from-literal=a=b"]).ok();
        let out = as_flux(&["get", "cm", "c", "-n", "t2"]).expect_code(1);
        assert!(out.stderr.contains("Forbidden"), "{}", out.stderr);
        // A ServiceAccount may not impersonate a user it was not granted.
        let out = as_flux(&["get", "cm", "-n", "t1", "--as", "bob"]).expect_code(1);
        assert_eq!(
            out.stderr.trim(),
            "Error from server (Forbidden): users \"bob\" is forbidden: User \"system:serviceaccount:t1:flux\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
        );
        // A token nobody issued is a 401.
        let out = k.run(&["--token", "nonsense", "get", "cm"]).expect_code(1);
        assert!(
            out.stderr.contains("Unauthorized") || out.stderr.contains("must be logged in"),
            "{}",
            out.stderr
        );
    });
}

/// x509 authentication: a client certificate the cluster's CA signed is its subject's
/// common name with its organizations as groups, ahead of the kubeconfig's token (as
/// kube-apiserver's x509 authenticator comes before its token ones), held to RBAC; one
/// another CA signed is not taken.
#[test]
fn client_certificates_authenticate_their_subject() {
    each_version_over_tls(|sim, k| {
        tenants(k);
        let authority = sim.fleet().tls().expect("served over TLS");
        let (certificate, key) = authority
            .user_certificate("alice", &["team-a"])
            .expect("certificate");
        let cert_file = sim.write(&format!("{}/alice.crt", k.version), &certificate);
        let key_file = sim.write(&format!("{}/alice.key", k.version), &key);
        let as_alice = |args: &[&str]| {
            let mut all = vec![
                "--client-certificate",
                cert_file.to_str().expect("path"),
                "--client-key",
                key_file.to_str().expect("path"),
            ];
            all.extend_from_slice(args);
            k.run(&all)
        };
        let out = as_alice(&["auth", "whoami"]).ok();
        assert!(
            out.stdout.contains("alice") && out.stdout.contains("[team-a system:authenticated]"),
            "kubectl {}:\n{}",
            k.version,
            out.stdout
        );
        let out = as_alice(&["get", "cm", "-n", "t1"]).expect_code(1);
        assert!(
            out.stderr
                .contains("User \"alice\" cannot list resource \"configmaps\""),
            "{}",
            out.stderr
        );
        k.run(&[
            "create",
            "rolebinding",
            "team-a-view",
            "-n",
            "t1",
            "--clusterrole=view",
            "--group=team-a",
        ])
        .ok();
        as_alice(&["get", "cm", "-n", "t1"]).ok();

        // A certificate another CA signed (both CAs are named alike) is taken in the
        // handshake and refused by the authenticator: with the kubeconfig's token the
        // token's user (kube-apiserver's union goes on past the x509 error), without one
        // 401, never anonymous.
        let stranger = kubesim::tls::Authority::generate(None).expect("authority");
        let (certificate, key) = stranger.client_certificate("mallory").expect("certificate");
        let cert_file = sim.write(&format!("{}/mallory.crt", k.version), &certificate);
        let key_file = sim.write(&format!("{}/mallory.key", k.version), &key);
        let as_mallory = [
            "--client-certificate",
            cert_file.to_str().expect("path"),
            "--client-key",
            key_file.to_str().expect("path"),
            "auth",
            "whoami",
        ];
        let out = k.run(&as_mallory).ok();
        assert!(
            out.stdout.contains("kubesim-admin") && !out.stdout.contains("mallory"),
            "{}",
            out.stdout
        );
        let kubeconfig = std::fs::read_to_string(sim.dir.path().join("kubeconfig")).expect("read");
        let tokenless: String = kubeconfig
            .lines()
            .filter(|l| !l.trim_start().starts_with("token: "))
            .map(|l| format!("{l}\n"))
            .collect();
        let tokenless = sim.write(&format!("{}/tokenless.kubeconfig", k.version), &tokenless);
        let env = [("KUBECONFIG", tokenless.to_str().expect("path"))];
        let out = k.run_env(&env, &as_mallory).expect_code(1);
        assert!(
            out.stderr
                .contains("You must be logged in to the server (Unauthorized)"),
            "{}",
            out.stderr
        );
    });
}

#[test]
fn kubeconfig_carries_the_ca_and_admin_tokens() {
    let sim = Sim::start_tls();
    let config = std::fs::read_to_string(sim.dir.path().join("kubeconfig")).expect("kubeconfig");
    assert!(config.contains("certificate-authority-data: "), "{config}");
    assert!(config.contains("server: https://127.0.0.1:"), "{config}");
    assert!(config.contains("    token: "), "{config}");
}

#[test]
fn aggregated_roles_gather_new_rules() {
    each_version_over_tls(|sim, k| {
        tenants(k);
        let role = sim.write(
            &format!("limitranges-{}.yaml", k.version),
            "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: limitranges-edit
  labels:
    rbac.authorization.k8s.io/aggregate-to-edit: \"true\"
rules:
- apiGroups: [\"\"]
  resources: [limitranges]
  verbs: [create]
",
        );
        k.run(&["apply", "-f", role.to_str().expect("utf-8 path")])
            .ok();
        k.run(&[
            "create",
            "rolebinding",
            "flux-edit",
            "-n",
            "t1",
            "--clusterrole=admin",
            "--serviceaccount=t1:flux",
        ])
        .ok();
        // edit aggregates into admin, so the new rule reaches admin too.
        let out = k
            .run(&[
                "auth",
                "can-i",
                "create",
                "limitranges",
                "-n",
                "t1",
                "--as",
                FLUX,
            ])
            .ok();
        assert_eq!(out.stdout.trim(), "yes", "kubectl {}", k.version);
        // The controller writes the gathered rules into the stored objects.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let out = k
                .run(&[
                    "get",
                    "clusterrole",
                    "admin",
                    "-o",
                    "jsonpath={.rules[?(@.resources[0]==\"limitranges\")].verbs}",
                ])
                .ok();
            if out.stdout.contains("create") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{}", out.stdout);
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    });
}

#[test]
fn apply_that_creates_needs_create_as_well_as_patch() {
    each_version_over_tls(|sim, k| {
        tenants(k);
        let role = sim.write(
            &format!("patch-only-{}.yaml", k.version),
            "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: patch-only
  namespace: t1
rules:
- apiGroups: [\"\"]
  resources: [configmaps]
  verbs: [get, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: flux-patch-only
  namespace: t1
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: patch-only
subjects:
- kind: ServiceAccount
  name: flux
  namespace: t1
",
        );
        k.run(&["apply", "-f", role.to_str().expect("utf-8 path")])
            .ok();
        let cm = sim.write(
            &format!("cm-{}.yaml", k.version),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: t1\ndata:\n  a: b\n",
        );
        let cm = cm.to_str().expect("utf-8 path");
        let out = k
            .run(&["apply", "--server-side", "-f", cm, "--as", FLUX])
            .expect_code(1);
        assert_eq!(
            out.stderr.trim(),
            "Error from server (Forbidden): configmaps \"c\" is forbidden: User \"system:serviceaccount:t1:flux\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"t1\"",
            "kubectl {}",
            k.version
        );
        // Once it exists, patch alone is enough.
        k.run(&["apply", "--server-side", "-f", cm]).ok();
        k.run(&["apply", "--server-side", "-f", cm, "--as", FLUX])
            .ok();
    });
}
