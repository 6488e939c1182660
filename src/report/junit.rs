//! JUnit XML: one test suite per scenario, one test case per check.

use super::json::RunReport;
use crate::check::Verdict;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

/// Renders `report` as JUnit XML.
pub fn junit_xml(report: &RunReport) -> String {
    let mut junit = Report::new("hookproof");
    for scenario in &report.scenarios {
        let mut suite = TestSuite::new(scenario.name.as_str());
        for check in &scenario.checks {
            let status = match check.verdict {
                Verdict::Pass => TestCaseStatus::success(),
                Verdict::Skipped => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(check.summary.as_str());
                    s
                }
                Verdict::Fail | Verdict::Unknown => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    let kind = if check.verdict == Verdict::Fail {
                        "fail"
                    } else {
                        "unknown"
                    };
                    s.set_message(format!("{kind}: {}", check.summary));
                    s.set_type(kind);
                    let mut description = String::new();
                    for e in &check.evidence {
                        description.push_str(&e.what);
                        description.push('\n');
                        for line in &e.timeline {
                            description.push_str("  ");
                            description.push_str(line);
                            description.push('\n');
                        }
                    }
                    description.push_str(&format!("replay: {}\n", scenario.replay));
                    s.set_description(description);
                    s
                }
            };
            let mut case = TestCase::new(check.check.as_str(), status);
            case.set_classname(format!("hookproof.{}", scenario.name));
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    junit
        .to_string()
        .unwrap_or_else(|e| format!("<!-- could not render JUnit: {e} -->"))
}
