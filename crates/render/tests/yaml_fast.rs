//! Differential tests of `yaml_fast::parse` against serde-saphyr: whenever the fast path
//! answers, its answer must be exactly serde-saphyr's (and a document serde-saphyr refuses
//! must never get one). Run over every YAML file of the conformance corpus (charts, their
//! rendered golden outputs, kustomize cases, …) and over generated tricky documents.

use std::path::{Path, PathBuf};

use flotilla_render::yaml_fast;
use serde_json::Value;

/// Fewer documents than this accepted by the fast path in the corpus means it regressed
/// (measured: see the test's output).
const MIN_CORPUS_ACCEPTED: usize = 950;

fn corpus() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_path_buf());
    let root = manifest.join("../../../shared/conformance");
    assert!(
        root.is_dir(),
        "conformance corpus missing at {} (expected ../shared/conformance next to the workspace)",
        root.display()
    );
    root
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// Documents split on `---` lines (the marker line itself dropped).
fn documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        if bare == "---" || bare.starts_with("--- ") {
            docs.push(String::new());
        } else {
            docs.last_mut().unwrap().push_str(line);
        }
    }
    docs
}

/// The property: `Some` only with serde-saphyr's own value.
fn check(doc: &str, origin: &str) -> bool {
    let Some(fast) = yaml_fast::parse(doc) else {
        return false;
    };
    let slow = serde_saphyr::from_str::<Value>(doc);
    assert_eq!(
        Some(&fast),
        slow.as_ref().ok(),
        "fast path differs from serde-saphyr ({origin}) on:\n{doc}\n--- saphyr: {slow:?}"
    );
    // `Value`'s equality ignores the order of keys; the text does not.
    assert_eq!(
        serde_json::to_string(&fast).unwrap(),
        serde_json::to_string(slow.as_ref().unwrap()).unwrap(),
        "key order differs ({origin}) on:\n{doc}"
    );
    true
}

#[test]
fn conformance_corpus_agrees_with_saphyr() {
    let mut files = Vec::new();
    yaml_files(&corpus(), &mut files);
    assert!(!files.is_empty(), "no YAML files in the conformance corpus");
    let (mut total, mut accepted) = (0, 0);
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue; // not UTF-8: nothing for either parser
        };
        for (i, doc) in documents(&text).iter().enumerate() {
            total += 1;
            if check(doc, &format!("{} document {i}", file.display())) {
                accepted += 1;
            }
        }
    }
    println!(
        "yaml_fast corpus: {accepted} of {total} documents accepted by the fast path ({} files)",
        files.len()
    );
    assert!(
        accepted >= MIN_CORPUS_ACCEPTED,
        "only {accepted} of {total} documents took the fast path (floor {MIN_CORPUS_ACCEPTED})"
    );
}

/// SplitMix64: a fixed-seed generator, so the test is deterministic. It also holds how
/// tricky the current document is: keys, scalars and mutations are drawn from the tricky
/// lists one time in `tricky` (else from plain ones), so that many documents carry just one
/// or two odd pieces among parts the fast path takes.
struct Rng {
    state: u64,
    tricky: usize,
}

impl Rng {
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    /// Whether to make this piece tricky.
    fn trick(&mut self) -> bool {
        self.one_in(self.tricky)
    }
    fn key(&mut self) -> &'static str {
        if self.trick() {
            self.pick(KEYS)
        } else {
            self.pick(PLAIN_KEYS)
        }
    }
}

const PLAIN_KEYS: &[&str] = &[
    "a",
    "b",
    "c",
    "name",
    "image",
    "app.kubernetes.io/name",
    "\"quoted\"",
];

const PLAIN_SCALARS: &[&str] = &[
    "x",
    "web",
    "nginx:1.25",
    "\"nginx:1.25\"",
    "'single'",
    "true",
    "null",
    "80",
    "-3",
    "100m",
    "{}",
    "[]",
];

const KEYS: &[&str] = &[
    "a",
    "a",
    "b",
    "name",
    "image",
    "app.kubernetes.io/name",
    "helm.sh/chart",
    "checksum/config",
    ".dockerconfigjson",
    ".inf",
    ".5",
    "..k",
    "_k",
    "-k",
    "--k",
    "k-",
    "k.",
    "k/",
    "/k",
    "9k",
    "1.2.3",
    "true",
    "False",
    "yes",
    "on",
    "y",
    "N",
    "null",
    "~",
    "1",
    "-1",
    "0x1F",
    "1e3",
    "<<",
    "?k",
    "? k",
    "&a k",
    "*a",
    "!t k",
    "\"a\"",
    "\"q\"",
    "'s'",
    "\"a b\"",
    "\"e\\\"s\"",
    "'i''s'",
    "\"\"",
    "a b",
    "k#x",
    "k #x",
    "k:x",
    "-",
    "[k]",
    "{k}",
    "%k",
    "@k",
    "kä",
    "$k",
    "$patch",
    "k$",
];

const SCALARS: &[&str] = &[
    "x",
    "web",
    "nginx:1.25",
    "\"nginx:1.25\"",
    "yes",
    "No",
    "NO",
    "on",
    "Off",
    "y",
    "Y",
    "n",
    "true",
    "True",
    "tRue",
    "false",
    "FALSE",
    "null",
    "Null",
    "nULL",
    "~",
    "0",
    "-0",
    "+0",
    "00",
    "007",
    "-007",
    "+1",
    "1",
    "-1",
    "12",
    "80",
    "1_000",
    "0x1F",
    "0X1F",
    "0o17",
    "0O17",
    "0b101",
    "1e3",
    "1E3",
    "-1e3",
    "1.5",
    ".5",
    "1.",
    ".inf",
    "-.inf",
    ".NaN",
    "-.nan",
    "inf",
    "-inf",
    "nan",
    "Infinity",
    "1.2.3",
    "10.0.0.1",
    "100m",
    "128Mi",
    "1.5Gi",
    "0.5",
    "2001-12-14",
    "2001-12-14T10:00:00Z",
    "2001-12-14 10:00:00",
    "12:30",
    "1:2:3",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "\"a\\\"b\"",
    "\"\\u00e9\\x41\\U0001F600\\N\\_\\L\\P\\e\\ \\/\\0\\t\"",
    "\"\\xe9\\x85\\x7f\"",
    "\"\\q\"",
    "\"\\ud800\"",
    "\"\\x4\"",
    "\"unterminated",
    "'unterminated",
    "'it''s'",
    "'x'y",
    "\"x\"y",
    "\"x\" # c",
    "\"x\"# c",
    "'a # b'",
    "\"#\"",
    "\"\"",
    "''",
    "a #b",
    "a# b",
    "a:b",
    "a: b",
    "key: value: x",
    "value:",
    "- x",
    "-",
    "--",
    "---",
    "...",
    "-x",
    "-e5",
    "e5",
    "1e",
    "0x",
    "0xg",
    "0x1g",
    "0b1f",
    "0o8",
    "1x2",
    "00x1",
    "3f1c2a9d8e7b",
    "3e1c",
    "1d",
    "1f",
    "1.5e+3",
    "1e-3",
    "1-2",
    "1+2",
    "1_2_3",
    "1..2",
    "1.2.",
    "0b2",
    "1__0",
    "_1",
    "1_",
    "=",
    "<<",
    "&a x",
    "&a",
    "*a",
    "!t x",
    "!!str 1",
    "!!int 1",
    "|",
    "|-",
    "> x",
    "%x",
    "@x",
    "`x",
    "[1, 2]",
    "{a: 1}",
    "{}",
    "[]",
    "{ }",
    "[ ]",
    "{}x",
    "café",
    "a\u{a0}",
    "x\u{a0}y",
    "\u{a0}x",
    "日本",
    "$(VAR)",
    "${VAR}",
    "/path/to",
    "_x",
    "a,b",
    "a[0]",
    "b}",
    "http://x:80/?a=1&b=2",
    "1 2",
    "a  b",
    "a\"b",
    "ok'",
    "?x",
    ":x",
    "x?",
    "x!",
    "a | b",
    "a > b",
    "a - b",
    "a -",
    "#x",
    "../base",
    "./x",
    ".x",
    "..",
    "...",
    "./",
    ".5",
    "",
];

/// One line before mutation: indentation and text.
type Lines = Vec<(usize, String)>;

fn gen_scalar(rng: &mut Rng) -> String {
    let mut s = if rng.trick() {
        rng.pick(SCALARS)
    } else {
        rng.pick(PLAIN_SCALARS)
    }
    .to_string();
    if rng.trick() && rng.one_in(4) {
        s.push_str(rng.pick(&[" # c", " #", "  # c: d", "#c", "   "]));
    }
    s
}

fn gen_mapping(rng: &mut Rng, out: &mut Lines, indent: usize, depth: usize) {
    for _ in 0..1 + rng.below(4) {
        let key = rng.key();
        let nest = depth < 4;
        // Shapes 7 to 9 are odd: only in tricky turns.
        let shape = match rng.below(12) {
            7..=9 if !rng.trick() => 0,
            n => n,
        };
        match shape {
            0..=4 => out.push((indent, format!("{key}: {}", gen_scalar(rng)))),
            5 if nest => {
                out.push((indent, format!("{key}:")));
                let at = indent + 1 + rng.below(4);
                gen_mapping(rng, out, at, depth + 1);
            }
            6 if nest => {
                out.push((indent, format!("{key}:")));
                // Indentless (same column) or indented.
                let at = indent + [0, 2, 4][rng.below(3)];
                gen_sequence(rng, out, at, depth + 1);
            }
            7 => out.push((
                indent,
                format!("{key}:{}", rng.pick(&["", " ", " # c", "#c"])),
            )),
            8 => {
                out.push((
                    indent,
                    format!("{key}: {}", rng.pick(&["|", ">-", "|+", "|2"])),
                ));
                for _ in 0..rng.below(3) {
                    out.push((indent + 2, gen_scalar(rng)));
                }
            }
            9 => {
                // A plain or quoted scalar continued on the next line.
                out.push((indent, format!("{key}: {}", rng.pick(&["a", "\"a", "'a"]))));
                out.push((
                    indent + 1 + rng.below(2),
                    rng.pick(&["b", "b\"", "b'"]).into(),
                ));
            }
            10 => {
                // A value alone on the next line (Helm's `toYaml … | nindent`).
                out.push((indent, format!("{key}:")));
                let at = indent + [0, 1, 2, 4][rng.below(4)];
                let value = if rng.trick() {
                    rng.pick(&["{a: 1}", "x", "\"x\"", "{} x", "[] # c", "- x"])
                } else {
                    rng.pick(&["{}", "[]"])
                };
                out.push((at, value.into()));
            }
            _ => out.push((
                indent,
                format!("{key}: {}", rng.pick(&["{}", "[]", "1", "x"])),
            )),
        }
    }
}

fn gen_sequence(rng: &mut Rng, out: &mut Lines, indent: usize, depth: usize) {
    for _ in 0..1 + rng.below(4) {
        let nest = depth < 4;
        let shape = match rng.below(8) {
            6 | 7 if !rng.trick() => 0,
            n => n,
        };
        match shape {
            0..=2 => out.push((indent, format!("- {}", gen_scalar(rng)))),
            3 | 4 if nest => {
                // A compact mapping: its first line joins the dash.
                let pad = 1 + rng.below(3);
                let mut inner = Lines::new();
                gen_mapping(rng, &mut inner, indent + 1 + pad, depth + 1);
                let (_, first) = inner.remove(0);
                out.push((indent, format!("-{}{first}", " ".repeat(pad))));
                out.extend(inner);
            }
            5 if nest => {
                out.push((indent, rng.pick(&["-", "- ", "- # c"]).into()));
                if rng.one_in(4) {
                    out.push((indent + 2, rng.pick(&["{}", "[]"]).into()));
                } else if rng.one_in(2) {
                    gen_mapping(rng, out, indent + 2, depth + 1);
                } else {
                    gen_sequence(rng, out, indent + 2, depth + 1);
                }
            }
            6 => out.push((indent, format!("- - {}", gen_scalar(rng)))),
            _ => out.push((indent, "-".into())),
        }
    }
}

fn gen_document(rng: &mut Rng) -> String {
    let mut lines = Lines::new();
    let root = if rng.one_in(10) { 2 } else { 0 };
    if rng.one_in(5) {
        gen_sequence(rng, &mut lines, root, 0);
    } else {
        gen_mapping(rng, &mut lines, root, 0);
    }
    let mut doc = String::new();
    match rng.below(6) {
        0 => doc.push_str("# Source: chart/templates/x.yaml\n"),
        1 => doc.push_str("---\n"),
        2 => doc.push_str("\n# c\n---\n"),
        _ => {}
    }
    for (mut indent, text) in lines {
        // Mutations: wrong indentation, comments, blank lines, trailing text, markers.
        if rng.trick() && rng.one_in(8) {
            indent = if rng.one_in(2) {
                indent + 1
            } else {
                indent.saturating_sub(1)
            };
        }
        if rng.one_in(20) {
            doc.push_str(&" ".repeat(rng.below(6)));
            doc.push_str("# comment\n");
        }
        if rng.one_in(30) {
            doc.push('\n');
        }
        if rng.trick() && rng.one_in(40) {
            // serde-saphyr refuses long runs of comments in some places.
            doc.push_str(&"# c\n".repeat(10 + rng.below(30)));
        }
        if rng.trick() && rng.one_in(50) {
            doc.push_str(rng.pick(&["---\n", "...\n", "--- x\n", "%YAML 1.2\n"]));
        }
        doc.push_str(&" ".repeat(indent));
        doc.push_str(&text);
        if rng.trick() && rng.one_in(10) {
            doc.push_str(rng.pick(&["  ", " # t", "\t", "\r"]));
        }
        doc.push('\n');
    }
    if rng.one_in(10) {
        doc.pop();
    }
    doc
}

#[test]
fn generated_documents_agree_with_saphyr() {
    let mut rng = Rng {
        state: 0x5eed_f10c_0771_2a00,
        tricky: 1,
    };
    let cases = 40_000;
    let mut accepted = 0;
    for i in 0..cases {
        rng.tricky = [1, 3, 10, 30, 1000][i % 5];
        let doc = gen_document(&mut rng);
        if check(&doc, &format!("generated case {i}")) {
            accepted += 1;
        }
    }
    println!("yaml_fast generated: {accepted} of {cases} documents accepted by the fast path");
    // The generator must keep producing documents the fast path takes, or the property
    // above says nothing.
    assert!(
        accepted * 4 >= cases,
        "only {accepted} of {cases} generated documents took the fast path"
    );
}
