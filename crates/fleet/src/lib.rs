//! The fleet hub: the Argo CD and Flux resources a platform team already writes, turned into
//! converged clusters.
