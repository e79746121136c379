//! The kubeconfig of a Flux `kubeConfig.secretRef`, which a tenant writes: what of it the
//! hub may use. fluxcd/pkg's `runtime/client.KubeConfig` keeps the server, inline
//! certificates and keys, a token, a username and password, and drops the rest — file
//! paths (which would read the controller's own files, its service account token
//! among them), auth providers, and unless the controller allows them exec plugins
//! (`--insecure-kubeconfig-exec`: a program run on the controller) and skipped TLS
//! verification (`--insecure-kubeconfig-tls`). Here those are refused with the field's
//! name rather than dropped, so a tenant learns why instead of meeting a 401.

use kube::config::Kubeconfig;

/// What the controller allows in a tenant's kubeconfig.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KubeconfigPolicy {
    /// `--insecure-kubeconfig-exec`: `user.exec` plugins.
    pub allow_exec: bool,
    /// `--insecure-kubeconfig-tls`: `cluster.insecure-skip-tls-verify`.
    pub allow_insecure_tls: bool,
}

/// Checks the current context's cluster and user against `policy`, and clears the
/// impersonation the kubeconfig asks for (the controller sets its own).
pub fn sanitize(kubeconfig: &mut Kubeconfig, policy: KubeconfigPolicy) -> Result<(), String> {
    let Some(current) = kubeconfig.current_context.clone() else {
        return Err("the kubeconfig has no current-context".into());
    };
    let context = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == current)
        .and_then(|c| c.context.clone())
        .ok_or_else(|| format!("the kubeconfig has no context {current:?}"))?;
    if let Some(cluster) = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .and_then(|c| c.cluster.as_ref())
    {
        if cluster.certificate_authority.is_some() {
            return Err(file_path("cluster.certificate-authority"));
        }
        if cluster.insecure_skip_tls_verify == Some(true) && !policy.allow_insecure_tls {
            return Err("cluster.insecure-skip-tls-verify is not allowed (flotilla controller --insecure-kubeconfig-tls allows it)".into());
        }
    }
    let Some(user) = context.user.as_deref() else {
        return Ok(());
    };
    let Some(auth) = kubeconfig
        .auth_infos
        .iter_mut()
        .find(|a| a.name == user)
        .and_then(|a| a.auth_info.as_mut())
    else {
        return Ok(());
    };
    for (field, set) in [
        ("user.tokenFile", auth.token_file.is_some()),
        ("user.client-certificate", auth.client_certificate.is_some()),
        ("user.client-key", auth.client_key.is_some()),
    ] {
        if set {
            return Err(file_path(field));
        }
    }
    if auth.auth_provider.is_some() {
        return Err(
            "user.auth-provider is not allowed: auth provider plugins are not supported for kubeConfig Secrets; use a token or client certificate data".into(),
        );
    }
    if auth.exec.is_some() && !policy.allow_exec {
        return Err("user.exec is not allowed: an exec plugin would run a program on the hub (flotilla controller --insecure-kubeconfig-exec allows it)".into());
    }
    auth.impersonate = None;
    auth.impersonate_uid = None;
    auth.impersonate_groups = None;
    auth.impersonate_user_extra = None;
    Ok(())
}

fn file_path(field: &str) -> String {
    format!(
        "{field} is not allowed: a file path would be read on the hub; put the data inline (the -data field)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(cluster: &str, user: &str) -> Kubeconfig {
        Kubeconfig::from_yaml(&format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: remote\n  cluster:\n    server: https://remote.example:6443\n{cluster}users:\n- name: tenant\n  user:\n{user}contexts:\n- name: remote\n  context:\n    cluster: remote\n    user: tenant\n- name: unused\n  context:\n    cluster: remote\n    user: other\ncurrent-context: remote\n"
        ))
        .unwrap()
    }

    #[test]
    fn inline_credentials_pass_and_impersonation_is_cleared() {
        let mut config = kubeconfig(
            "    certificate-authority-data: Zm9v\n",
            "    token: abc\n    as: cluster-admin\n    as-groups: [system:masters]\n",
        );
        assert_eq!(sanitize(&mut config, KubeconfigPolicy::default()), Ok(()));
        let auth = config.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(auth.impersonate, None);
        assert_eq!(auth.impersonate_groups, None);
    }

    #[test]
    fn file_paths_plugins_and_skipped_verification_are_refused_by_name() {
        let strict = KubeconfigPolicy::default();
        for (cluster, user, field) in [
            (
                "",
                "    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token\n",
                "user.tokenFile",
            ),
            (
                "",
                "    client-certificate: /etc/hub/tls.crt\n",
                "user.client-certificate",
            ),
            ("", "    client-key: /etc/hub/tls.key\n", "user.client-key"),
            (
                "    certificate-authority: /etc/hub/ca.crt\n",
                "    token: abc\n",
                "cluster.certificate-authority",
            ),
            (
                "",
                "    auth-provider:\n      name: gcp\n",
                "user.auth-provider",
            ),
            (
                "",
                "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [-c, id]\n",
                "user.exec",
            ),
            (
                "    insecure-skip-tls-verify: true\n",
                "    token: abc\n",
                "cluster.insecure-skip-tls-verify",
            ),
        ] {
            let error = sanitize(&mut kubeconfig(cluster, user), strict).unwrap_err();
            assert!(
                error.starts_with(&format!("{field} is not allowed")),
                "{error}"
            );
        }
        let lenient = KubeconfigPolicy {
            allow_exec: true,
            allow_insecure_tls: true,
        };
        let exec =
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws\n";
        assert_eq!(sanitize(&mut kubeconfig("", exec), lenient), Ok(()));
        let insecure = "    insecure-skip-tls-verify: true\n";
        assert_eq!(
            sanitize(&mut kubeconfig(insecure, "    token: abc\n"), lenient),
            Ok(())
        );
        // File paths are never allowed, whatever the flags.
        let file = "    tokenFile: /etc/passwd\n";
        assert!(sanitize(&mut kubeconfig("", file), lenient).is_err());
    }
}
