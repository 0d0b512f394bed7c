//! TODO(storage)
