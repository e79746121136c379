//! `buildMetadata: [transformerAnnotations]` with transformers configured under
//! `transformers:` (inline, a file with several configurations, a kustomization
//! directory producing them, a base's own): each is recorded after the built-in ones of
//! its kustomization, by the configuration object (`apiVersion`, `kind`, `name`,
//! `namespace` when set) and the file it came from, as kustomize's
//! `OriginFromCustomPlugin` records it. Checked against `kubectl kustomize` on
//! `fixtures/transformer_annotations` (see `oracle.rs`).

use crate::oracle::{documents, same_output};

/// The `configuredIn`/`kind`/`name` of each transformation recorded on the first object.
fn transformations(yaml: &str) -> Vec<(String, String, String)> {
    let docs = documents(yaml);
    let text = docs[0]["metadata"]["annotations"]["alpha.config.kubernetes.io/transformations"]
        .as_str()
        .expect("a transformations annotation");
    let list: Vec<serde_json::Value> = serde_saphyr::from_str(text).expect("a list of origins");
    list.iter()
        .map(|o| {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
            (
                s(&o["configuredIn"]),
                s(&o["configuredBy"]["kind"]),
                s(&o["configuredBy"]["name"]),
            )
        })
        .collect()
}

fn t(configured_in: &str, kind: &str, name: &str) -> (String, String, String) {
    (configured_in.into(), kind.into(), name.into())
}

#[test]
fn configured_transformers_are_recorded_with_their_configuration() {
    let yaml = same_output("transformer_annotations", "overlay");
    assert_eq!(
        transformations(&yaml),
        [
            t("../base/kustomization.yaml", "PrefixTransformer", ""),
            t("../base/prefix.yaml", "PrefixSuffixTransformer", "pfx"),
            t("kustomization.yaml", "LabelTransformer", ""),
            t("kustomization.yaml", "LabelTransformer", "inline-labels"),
            t("tdir/sfx.yaml", "PrefixSuffixTransformer", "sfx"),
            t("ann.yaml", "AnnotationsTransformer", "notes"),
            t("ann.yaml", "PatchTransformer", "p2"),
        ]
    );
    // A namespace in the configuration's metadata is recorded too.
    assert!(
        yaml.contains("name: pfx\n          namespace: nsx\n"),
        "{yaml}"
    );
}

#[test]
fn with_origin_annotations_both_are_written() {
    let yaml = same_output("transformer_annotations", "with_origins");
    assert!(yaml.contains("config.kubernetes.io/origin"), "{yaml}");
    assert!(
        transformations(&yaml).contains(&t(
            "../overlay/tdir/sfx.yaml",
            "PrefixSuffixTransformer",
            "sfx"
        )),
        "{yaml}"
    );
}

#[test]
fn configurations_from_a_directory_are_named_by_their_file_and_current_name() {
    // The directory's namePrefix renames the configurations before they are recorded;
    // a generator configuration from a directory is the generated object's origin.
    let yaml = same_output("transformer_annotations", "generated");
    assert_eq!(
        transformations(&yaml),
        [t("tdir/t.yaml", "AnnotationsTransformer", "np-ann")]
    );
    assert!(yaml.contains("configuredIn: gdir/g.yaml"), "{yaml}");
}
