//! Demo clinic (being written).
