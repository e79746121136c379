//! The sync engine: desired objects and one cluster in; a plan, server-side applies,
//! prunes, health and drift out.
