//! TODO: helpdesk
