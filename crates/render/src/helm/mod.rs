//! Native `helm template`: charts from a directory or an archive, values, and Helm's
//! output order and format.
