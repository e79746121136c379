//! The ApplicationSet controller: generators fed by the hub's clusters and repositories,
//! the Applications they yield created, updated and deleted on the hub.
