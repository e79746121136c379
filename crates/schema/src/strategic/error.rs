//! Errors of strategic merge patch.

/// Why a strategic merge patch could not be applied. Messages follow upstream's wording
/// after the path of the field where it happened (`(root)` for the top level).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The original object or the patch is not a JSON object.
    #[error("invalid JSON document: the {0} must be a JSON object")]
    NotAnObject(&'static str),
    /// A list element lacks the merge key its field declares.
    #[error("{}: map: {element} does not contain declared merge key: {key}", at(.path))]
    NoMergeKey {
        /// The list.
        path: String,
        /// The element, as JSON.
        element: String,
        /// The declared merge key.
        key: String,
    },
    /// A value has the wrong JSON type for where it is used.
    #[error("{}: expected a {expected}, but received a {actual}", at(.path))]
    BadArgType {
        /// The value.
        path: String,
        /// What was expected.
        expected: &'static str,
        /// What was found.
        actual: &'static str,
    },
    /// `$patch` has a value other than `replace` or `delete` in an object, or other than
    /// `replace`, `delete` or `merge` in a list element.
    #[error("{}: unknown patch type: {directive} in map: {map}", at(.path))]
    UnknownPatchType {
        /// The object holding the directive.
        path: String,
        /// The directive's value, as JSON.
        directive: String,
        /// The object, as JSON.
        map: String,
    },
    /// A list element says `$patch: merge`, which upstream does not support.
    #[error("{}: merging lists cannot yet be specified in the patch", at(.path))]
    MergeDirectiveInList {
        /// The list.
        path: String,
    },
    /// A list of objects has strategy `merge` but no merge key.
    #[error("{}: cannot merge lists without merge key", at(.path))]
    NoMergeKeyDeclared {
        /// The list.
        path: String,
    },
    /// A merged list contains lists.
    #[error("{}: lists of lists are not supported", at(.path))]
    ListOfLists {
        /// The list.
        path: String,
    },
    /// The elements of a merged list (original and patch together) differ in type.
    #[error("{}: list element types are not identical", at(.path))]
    MixedElementTypes {
        /// The list.
        path: String,
    },
    /// A merged list starts with `null` (upstream crashes on this).
    #[error("{}: list elements must not be null", at(.path))]
    NullElement {
        /// The list.
        path: String,
    },
    /// Ordering a list whose original and patch are both empty.
    #[error("{}: no elements in any of the given slices", at(.path))]
    NoElements {
        /// The list.
        path: String,
    },
    /// A `$deleteFromPrimitiveList` key is not `$deleteFromPrimitiveList/<field>`.
    #[error("{}: invalid patch format of primitive list: {key:?}", at(.path))]
    BadPrimitiveListFormat {
        /// The object holding the key.
        path: String,
        /// The key.
        key: String,
    },
    /// A `$setElementOrder` key is not `$setElementOrder/<field>`.
    #[error("{}: invalid patch format of setElementOrder list: {key:?}", at(.path))]
    BadSetElementOrderFormat {
        /// The object holding the key.
        path: String,
        /// The key.
        key: String,
    },
    /// The patch list names elements in another order than its `$setElementOrder` list,
    /// or names elements the latter lacks.
    #[error("{}: the order in the patch list doesn't match the $setElementOrder list", at(.path))]
    SetElementOrderMismatch {
        /// The list.
        path: String,
    },
    /// `$retainKeys` is not a list, or the patch sets a field it does not retain.
    #[error("{}: invalid patch format of retainKeys", at(.path))]
    BadRetainKeysFormat {
        /// The object.
        path: String,
    },
    /// Original and patch both have an object or list under a field the schema does not
    /// declare (or a `$setElementOrder` names one).
    #[error("{}: unable to find api field {field:?}", at(.path))]
    FieldNotFound {
        /// The object.
        path: String,
        /// The field.
        field: String,
    },
}

fn at(path: &str) -> &str {
    if path.is_empty() { "(root)" } else { path }
}
