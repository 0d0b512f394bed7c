//! Ansible setup provider.
