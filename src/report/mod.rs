//! Reports: one run model ([`RunReport`]), several writers (terminal
//! summary, JSON, JUnit XML, Markdown, self-contained HTML with charts,
//! delivery-log JSON Lines, SUT logs), and the comparisons between runs
//! (baseline gate, merge).

pub mod baseline;
pub mod charts;
mod files;
pub mod html;
mod json;
mod junit;
mod markdown;
pub mod merge;
mod terminal;

pub use files::{
    ReportDirError, check_report_dir, prepare_report_dir, write_html_report,
    write_merged_report_dir, write_report_dir,
};
pub use json::{RunReport, SCHEMA_VERSION, ScenarioReport, Totals};
pub use junit::junit_xml;
pub use markdown::markdown_summary;
pub use terminal::summary_table;
