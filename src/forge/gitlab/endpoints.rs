//! GitLab endpoints the `gitlab` crate lacks. `PUT
//! /projects/:id/merge_requests/:iid/merge` with `auto_merge`, which
//! GitLab 17.11 introduced in place of `merge_when_pipeline_succeeds`
//! (doc/api/merge_requests.md "Merge a merge request"): the crate's
//! `MergeMergeRequest` only has the older name; this sends both, so old
//! and new servers understand it. And `POST
//! /projects/:id/merge_requests/:iid/cancel_merge_when_pipeline_succeeds`
//! (doc/api/merge_requests.md "Cancel Merge When Pipeline Succeeds"),
//! which the crate does not have.

use std::borrow::Cow;

use gitlab::api::{BodyError, Endpoint, FormParams};
use http::Method;

/// Merge MR `iid` of `project` once its pipeline passes, if its head is
/// still `sha`; squashed.
pub(super) struct AutoMerge<'a> {
    pub project: u64,
    pub iid: u64,
    pub sha: &'a str,
}

impl Endpoint for AutoMerge<'_> {
    fn method(&self) -> Method {
        Method::PUT
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!(
            "projects/{}/merge_requests/{}/merge",
            self.project, self.iid
        )
        .into()
    }

    fn body(&self) -> Result<Option<(&'static str, Vec<u8>)>, BodyError> {
        let mut params = FormParams::default();
        params
            .push("auto_merge", true)
            .push("merge_when_pipeline_succeeds", true)
            .push("sha", self.sha)
            .push("squash", true);
        params.into_body()
    }
}

/// Switch auto-merge of MR `iid` of `project` off.
pub(super) struct CancelAutoMerge {
    pub project: u64,
    pub iid: u64,
}

impl Endpoint for CancelAutoMerge {
    fn method(&self) -> Method {
        Method::POST
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!(
            "projects/{}/merge_requests/{}/cancel_merge_when_pipeline_succeeds",
            self.project, self.iid
        )
        .into()
    }
}
