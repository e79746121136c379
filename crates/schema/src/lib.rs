//! Kubernetes OpenAPI definitions and the semantics built on them.
