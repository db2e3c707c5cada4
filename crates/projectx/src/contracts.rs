//! Contract resolution (being written).
