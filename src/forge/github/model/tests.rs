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

#[test]
fn graphql_rate_limits_in_either_shape_are_rate_limits() {
    let old = json!({"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]});
    let new = json!({"errors": [{"type": "RATE_LIMIT", "code": "graphql_rate_limit", "message": "API rate limit already exceeded for user ID 1."}]});
    for body in [old, new] {
        assert!(
            matches!(
                auto_merge_outcome(&body),
                Err(ForgeError::RateLimited { .. })
            ),
            "{body}"
        );
        assert!(matches!(
            graphql_errors(&body),
            Err(ForgeError::RateLimited { .. })
        ));
    }
}

#[test]
fn auto_merge_refusals_that_mean_merge_it_yourself() {
    for message in [
        "Pull request Pull request is in clean status",
        "Pull request Pull request is in unstable status",
        "Pull request Auto merge is not allowed for this repository",
    ] {
        let body = json!({"errors": [{"type": "UNPROCESSABLE", "message": message}]});
        assert_eq!(
            auto_merge_outcome(&body).expect("an answer"),
            AutoMerge::Unavailable(message.to_string())
        );
    }
    let stale = json!({"errors": [{"type": "UNPROCESSABLE", "message": "head moved"}]});
    assert!(matches!(
        auto_merge_outcome(&stale),
        Err(ForgeError::Rejected { status: 422, .. })
    ));
}
