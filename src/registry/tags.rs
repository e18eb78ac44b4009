//! Tag lists: `/v2/<path>/tags/list` with `Link` pagination.

use std::collections::HashSet;

use reqwest::header::LINK;
use reqwest::{Method, Url};

use super::{Inner, RegistryError};
use crate::domain::ImageRepo;

/// Guard against a registry that keeps sending `Link`s forever.
const MAX_PAGES: usize = 10_000;

#[derive(serde::Deserialize)]
struct TagPage {
    /// `null` for a repository without tags on some registries.
    #[serde(default)]
    tags: Option<Vec<String>>,
}

impl Inner {
    /// Lists all tags of `repo`, following `Link: <…>; rel="next"`. Without
    /// a `Link`, a page of exactly `n` tags in lexical order is followed by
    /// `?last=<last tag>` until a page is short, empty or brings nothing
    /// new; a page of more than `n` tags, or not in lexical order, means
    /// the registry ignored `n` and sent everything.
    pub(super) async fn fetch_tags(&self, repo: &ImageRepo) -> Result<Vec<String>, RegistryError> {
        let n = self.shared.options.page_size.max(1);
        let mut url = self.tags_url(repo, n, None)?;
        let mut tags = Vec::new();
        let mut seen = HashSet::new();
        for page in 1..=MAX_PAGES {
            let what = || format!("repository {}", repo.path());
            let (headers, body) = self
                .fetch_body(repo, Method::GET, &url, None, &what)
                .await?;
            let next = headers
                .get_all(LINK)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(parse_next_link);
            let listed: TagPage = serde_json::from_slice(&body)
                .map_err(|e| self.protocol(repo, format!("the tag list is not JSON: {e}")))?;
            let listed = listed.tags.unwrap_or_default();
            let count = listed.len();
            // A registry that pages sends tags in lexical order (OCI
            // distribution spec); an unsorted page is the whole list.
            let sorted = listed.windows(2).all(|w| w[0] <= w[1]);
            let mut new = 0;
            for tag in listed {
                if seen.insert(tag.clone()) {
                    tags.push(tag);
                    new += 1;
                }
            }
            tracing::debug!(
                host = repo.host(),
                repo = repo.path(),
                page,
                count,
                "tag page"
            );
            if new == 0 {
                break;
            }
            url = match next {
                Some(link) => url.join(&link).map_err(|e| {
                    self.protocol(repo, format!("bad Link {link:?} in the tag list: {e}"))
                })?,
                None if count == n && sorted => {
                    self.tags_url(repo, n, tags.last().map(String::as_str))?
                }
                None => break,
            };
        }
        Ok(tags)
    }

    fn tags_url(
        &self,
        repo: &ImageRepo,
        n: usize,
        last: Option<&str>,
    ) -> Result<Url, RegistryError> {
        let mut url = self.repo_url(repo, "tags/list")?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("n", &n.to_string());
            if let Some(last) = last {
                query.append_pair("last", last);
            }
        }
        Ok(url)
    }
}

/// The target of the `rel="next"` link in a `Link` header value, e.g.
/// `</v2/acme/web/tags/list?last=b&n=2>; rel="next"`.
pub fn parse_next_link(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>')?;
        let target = &after[..close];
        let params_end = after[close..].find('<').map_or(after.len(), |i| close + i);
        let params = &after[close + 1..params_end];
        let is_next = params.split(';').any(|p| {
            let Some((key, value)) = p.split_once('=') else {
                return false;
            };
            key.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.trim().to_string());
        }
        rest = &after[params_end..];
    }
    None
}
