//! TODO: workload
