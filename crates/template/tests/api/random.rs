//! The non-deterministic Sprig functions, checked by their properties.

use crate::render;
use flotilla_template::Functions;
use proptest::prelude::*;
use serde_json::json;

fn sprig(text: &str, data: serde_json::Value) -> String {
    render(Functions::sprig(), text, data).expect("renders")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn rand_strings_have_the_length_and_alphabet_asked_for(n in 0usize..64) {
        let alnum = sprig("{{ randAlphaNum .n }}", json!({"n": n}));
        prop_assert_eq!(alnum.len(), n);
        prop_assert!(alnum.chars().all(|c| c.is_ascii_alphanumeric()));
        let alpha = sprig("{{ randAlpha .n }}", json!({"n": n}));
        prop_assert!(alpha.len() == n && alpha.chars().all(|c| c.is_ascii_alphabetic()));
        let num = sprig("{{ randNumeric .n }}", json!({"n": n}));
        prop_assert!(num.len() == n && num.chars().all(|c| c.is_ascii_digit()));
        let ascii = sprig("{{ randAscii .n }}", json!({"n": n}));
        prop_assert!(ascii.len() == n && ascii.chars().all(|c| (' '..='~').contains(&c)));
    }

    #[test]
    fn rand_int_stays_in_its_half_open_range(lo in -1000i64..1000, span in 1i64..1000) {
        let out = sprig("{{ randInt .lo .hi }}", json!({"lo": lo, "hi": lo + span}));
        let v: i64 = out.parse().expect("an integer");
        prop_assert!(lo <= v && v < lo + span);
    }

    #[test]
    fn rand_bytes_decode_to_the_requested_count(n in 0usize..100) {
        use base64::Engine as _;
        let out = sprig("{{ randBytes .n }}", json!({"n": n}));
        let bytes = base64::engine::general_purpose::STANDARD.decode(out).expect("base64");
        prop_assert_eq!(bytes.len(), n);
    }

    #[test]
    fn shuffle_is_a_permutation(s in "[a-z0-9]{0,40}") {
        let out = sprig("{{ shuffle .s }}", json!({"s": s}));
        let (mut a, mut b): (Vec<char>, Vec<char>) = (s.chars().collect(), out.chars().collect());
        a.sort_unstable();
        b.sort_unstable();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn aes_round_trips_with_a_fresh_iv(key in "[ -~]{1,40}", text in "[ -~]{1,100}") {
        let data = json!({"k": key, "t": text});
        let one = sprig("{{ encryptAES .k .t }}", data.clone());
        let two = sprig("{{ encryptAES .k .t }}", data.clone());
        prop_assert_ne!(&one, &two);
        let back = sprig("{{ encryptAES .k .t | decryptAES .k }}", data);
        prop_assert_eq!(back, text);
    }
}

#[test]
fn uuidv4_is_a_random_version_4_uuid() {
    let re =
        regex::Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            .expect("regex");
    let a = sprig("{{ uuidv4 }}", json!({}));
    let b = sprig("{{ uuidv4 }}", json!({}));
    assert!(re.is_match(&a) && re.is_match(&b), "{a} {b}");
    assert_ne!(a, b);
}

#[test]
fn now_is_the_current_time_and_date_functions_apply_to_it() {
    let before = chrono::Utc::now().timestamp();
    let epoch: i64 = sprig("{{ now | unixEpoch }}", json!({}))
        .parse()
        .expect("integer");
    let after = chrono::Utc::now().timestamp();
    assert!(before <= epoch && epoch <= after);
    let year = sprig(r#"{{ now | date "2006" }}"#, json!({}));
    assert_eq!(year, chrono::Utc::now().format("%Y").to_string());
    let later: i64 = sprig(r#"{{ now | dateModify "1h" | unixEpoch }}"#, json!({}))
        .parse()
        .expect("integer");
    assert!((later - epoch - 3600).abs() <= 2);
    assert_eq!(sprig(r#"{{ now | ago }}"#, json!({})), "0s");
}

#[test]
fn bcrypt_and_htpasswd_hash_with_a_fresh_salt_that_verifies() {
    let a = sprig(r#"{{ bcrypt "s3cret" }}"#, json!({}));
    let b = sprig(r#"{{ bcrypt "s3cret" }}"#, json!({}));
    assert!(a.starts_with("$2a$10$"), "{a}");
    assert_ne!(a, b);
    assert!(bcrypt::verify("s3cret", &a).expect("a bcrypt hash"));
    let line = sprig(r#"{{ htpasswd "admin" "s3cret" }}"#, json!({}));
    let (user, hash) = line.split_once(':').expect("user:hash");
    assert_eq!(user, "admin");
    assert!(bcrypt::verify("s3cret", hash).expect("a bcrypt hash"));
    assert_eq!(
        sprig(r#"{{ htpasswd "admin" "s3cret" "sha" }}"#, json!({})),
        "admin:{SHA}/vNB+F2HQ559kaLUZbmHHvZrXpg="
    );
}

/// Parses the first PEM block of `pem` as a certificate and returns (subject CN, issuer CN,
/// SAN strings, is CA).
fn inspect(pem: &str) -> (String, String, Vec<String>, bool) {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("PEM");
    let cert = block.parse_x509().expect("a certificate");
    let cn = |n: &x509_parser::x509::X509Name<'_>| {
        n.iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let sans = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|s| {
            s.value
                .general_names
                .iter()
                .map(|g| g.to_string())
                .collect()
        })
        .unwrap_or_default();
    (cn(cert.subject()), cn(cert.issuer()), sans, cert.is_ca())
}

#[test]
fn generated_ca_signs_leaf_certificates() {
    let out = sprig(
        r#"{{- $ca := genCA "flotilla-ca" 365 -}}
{{- $leaf := genSignedCert "web" (list "10.0.0.1") (list "web.example.com") 30 $ca -}}
{{ $ca.Cert }}|{{ $ca.Key }}|{{ $leaf.Cert }}|{{ $leaf.Key }}"#,
        json!({}),
    );
    let parts: Vec<&str> = out.split('|').collect();
    assert_eq!(parts.len(), 4);
    assert!(
        parts[1].starts_with("-----BEGIN RSA PRIVATE KEY-----"),
        "{}",
        parts[1]
    );
    assert!(parts[3].starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let (cn, issuer, _, is_ca) = inspect(parts[0]);
    assert_eq!(
        (cn.as_str(), issuer.as_str(), is_ca),
        ("flotilla-ca", "flotilla-ca", true)
    );
    let (cn, issuer, sans, is_ca) = inspect(parts[2]);
    assert_eq!(
        (cn.as_str(), issuer.as_str(), is_ca),
        ("web", "flotilla-ca", false)
    );
    assert!(
        sans.iter().any(|s| s.contains("web.example.com")),
        "{sans:?}"
    );
    // x509-parser prints IP SANs in hex.
    assert!(
        sans.iter().any(|s| s == "IPAddress(0a:00:00:01)"),
        "{sans:?}"
    );
}

#[test]
fn private_keys_use_go_pem_types_and_self_signed_certs_reuse_them() {
    let ec = sprig(r#"{{ genPrivateKey "ecdsa" }}"#, json!({}));
    assert!(ec.starts_with("-----BEGIN EC PRIVATE KEY-----"), "{ec}");
    let ed = sprig(r#"{{ genPrivateKey "ed25519" }}"#, json!({}));
    assert!(ed.starts_with("-----BEGIN PRIVATE KEY-----"), "{ed}");
    let out = sprig(
        r#"{{ $c := genSelfSignedCertWithKey "svc" nil (list "svc.local") 10 .key }}{{ $c.Cert }}|{{ $c.Key }}"#,
        json!({"key": ec}),
    );
    let (cert, key) = out.split_once('|').expect("cert|key");
    assert_eq!(key, ec);
    let (cn, issuer, sans, _) = inspect(cert);
    assert_eq!((cn.as_str(), issuer.as_str()), ("svc", "svc"));
    assert!(sans.iter().any(|s| s.contains("svc.local")));
}
