//! Router tests of the dashboard: access, actions, secrets.
