//! Reports: one run model ([`RunReport`]), several writers (terminal
//! summary, JSON, JUnit XML, delivery-log JSON Lines, SUT logs).

pub mod baseline;
mod files;
mod json;
mod junit;
pub mod merge;
mod terminal;

pub use files::{ReportDirError, check_report_dir, write_report_dir};
pub use json::{RunReport, SCHEMA_VERSION, ScenarioReport, Totals};
pub use junit::junit_xml;
pub use terminal::summary_table;
