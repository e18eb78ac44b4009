use serde_json::json;

use super::*;

#[test]
fn checks_combine_failure_over_pending_over_success() {
    let none = json!({"state": "pending", "statuses": []});
    assert_eq!(combine_checks(&none, &[]), Checks::None);
    let ok = json!({"state": "success", "total_count": 1, "statuses": [{"state": "success"}]});
    let running = json!({"status": "in_progress", "conclusion": null});
    let skipped = json!({"status": "completed", "conclusion": "skipped"});
    let failed = json!({"status": "completed", "conclusion": "timed_out"});
    assert_eq!(combine_checks(&ok, &[skipped]), Checks::Success);
    assert_eq!(
        combine_checks(&ok, std::slice::from_ref(&running)),
        Checks::Pending
    );
    assert_eq!(combine_checks(&none, &[running, failed]), Checks::Failure);
    let beyond_first_page =
        json!({"state": "failure", "total_count": 150, "statuses": [{"state": "success"}]});
    assert_eq!(combine_checks(&beyond_first_page, &[]), Checks::Failure);
}

#[test]
fn reviewers_split_into_teams_and_users() {
    let r = vec!["alice".to_string(), "acme/platform".to_string()];
    assert_eq!(
        split_reviewers(&r),
        (vec!["platform".to_string()], vec!["alice".to_string()])
    );
}
