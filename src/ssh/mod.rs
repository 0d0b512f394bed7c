//! TODO(ssh)
