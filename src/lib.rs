//! # hookproof
//!
//! A contract-and-chaos tester for webhook integrations between a helpdesk
//! (Zendesk-like) and a CRM (HubSpot-like).
//!
//! A **scenario** is a workload × a delivery policy × faults × checks. A
//! **run** executes scenarios against a system under test (the *SUT*, the
//! user's receiver) and yields a verdict per check, with evidence.
//!
//! The crate is a library with a thin CLI (`hookproof`) on top: the library
//! never prints and never exits; `cli` owns the terminal and exit codes.
#![warn(missing_docs)]

pub mod allocator;
pub mod bench;
pub mod check;
pub mod cli;
pub mod contract;
pub mod crm;
pub mod fault;
pub mod fuzz;
pub mod helpdesk;
pub mod history;
pub mod partition;
pub mod producer;
pub mod project;
pub mod proxy;
pub mod reference;
pub mod replay;
pub mod report;
mod row_table;
pub mod runner;
pub mod scenario;
pub mod selftest;
mod short_str;
pub mod signing;
pub mod sut;
pub mod testing;
pub mod workload;
