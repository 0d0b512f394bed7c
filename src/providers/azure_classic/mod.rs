//! Azure classic (Service Management API) provider.
