//! Webhook receivers (stub replaced below).
