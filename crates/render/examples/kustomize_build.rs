//! `kustomize build DIR` with the native implementation: prints the YAML stream.
//!
//! ```sh
//! cargo run -p flotilla-render --example kustomize_build -- path/to/overlay
//! ```

use std::process::ExitCode;

use flotilla_render::kustomize::{self, DirTree};

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: kustomize_build DIR");
        return ExitCode::from(2);
    };
    // The current directory is the tree: nothing outside it may be read.
    let result = DirTree::new(".")
        .map_err(kustomize::Error::from)
        .and_then(|tree| kustomize::build_yaml(&tree, &dir));
    match result {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}
