//! Argo CD's notifications (notifications-engine as Argo CD configures it): the
//! expression language of triggers.

pub mod expr;
