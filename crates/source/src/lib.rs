//! Git sources: one shared bare mirror per repository URL, Flux GitRepository semantics,
//! webhook receivers, and reading files and tree ids at a commit.
