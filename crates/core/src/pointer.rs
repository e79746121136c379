//! JSON Pointer lookups (RFC 6901) without allocating: `serde_json::Value::pointer` makes
//! two new strings per reference token to unescape it, whether or not it holds `~`, and
//! the hub looks up object metadata this way for every object it renders, applies and
//! watches. [`Pointer::at`] answers exactly as `Value::pointer` does.

use std::borrow::Cow;

use serde_json::Value;

/// [`Pointer::at`] on JSON values.
pub trait Pointer {
    /// The value `pointer` names, as `serde_json::Value::pointer` finds it: `""` is the
    /// whole document, anything else must start with `/`; `~1` reads as `/` and `~0` as
    /// `~`; an array index is decimal without a sign or leading zeros.
    fn at(&self, pointer: &str) -> Option<&Value>;
}

impl Pointer for Value {
    fn at(&self, pointer: &str) -> Option<&Value> {
        if pointer.is_empty() {
            return Some(self);
        }
        let rest = pointer.strip_prefix('/')?;
        rest.split('/').try_fold(self, |target, token| {
            let token = unescape(token);
            match target {
                Value::Object(map) => map.get(token.as_ref()),
                Value::Array(list) => index(&token).and_then(|i| list.get(i)),
                _ => None,
            }
        })
    }
}

/// A reference token with `~1` and `~0` read back (in that order, as serde_json does).
fn unescape(token: &str) -> Cow<'_, str> {
    if token.contains('~') {
        Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(token)
    }
}

/// serde_json's `parse_index`.
fn index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Differential: every pointer, tricky ones included, finds what serde_json finds.
    #[test]
    fn finds_what_serde_json_finds() {
        let doc = json!({
            "metadata": {"name": "web", "annotations": {"a/b": "slash", "m~n": "tilde",
                         "~1": "escaped-escape", "": "empty"}},
            "list": [1, {"x": [true, null]}, "three"],
            "": {"": "nested-empty"},
            "0": "zero-key",
        });
        let pointers = [
            "",
            "/",
            "//",
            "/metadata",
            "/metadata/name",
            "/metadata/missing",
            "/metadata/annotations/a~1b",
            "/metadata/annotations/m~0n",
            "/metadata/annotations/~01",
            "/metadata/annotations/~1",
            "/metadata/annotations/",
            "/list/0",
            "/list/1/x/1",
            "/list/01",
            "/list/+1",
            "/list/-1",
            "/list/3",
            "/list/1/x/0/deeper",
            "/0",
            "metadata",
            "/metadata/name/x",
            "/list/1/x",
            "/list/18446744073709551616",
            "/~2",
            "/~",
            "/metadata/annotations/a~1b/x",
        ];
        for pointer in pointers {
            assert_eq!(doc.at(pointer), doc.pointer(pointer), "{pointer:?}");
        }
    }
}
