//! The status page's HTML: server-rendered, no script, a light and a dark
//! theme (`prefers-color-scheme`), readable on a phone.

use std::fmt::Write as _;

use super::{Status, span, when};

const STYLE: &str = "\
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--muted:#59636e;--line:#d1d9e0;--bad:#cf222e;--ok:#1a7f37}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--bad:#ff7b72;--ok:#3fb950}}
body{margin:0 auto;max-width:60rem;padding:1rem;font:15px/1.5 system-ui,sans-serif;background:var(--bg);color:var(--fg)}
h1{font-size:1.4rem}h2{font-size:1.1rem;border-bottom:1px solid var(--line);padding-bottom:.2rem;margin-top:2rem}
.repo{border:1px solid var(--line);border-radius:6px;padding:.5rem .8rem;margin:.6rem 0}
.muted{color:var(--muted)}.bad{color:var(--bad)}.ok{color:var(--ok)}
ul{padding-left:1.2rem;margin:.3rem 0}code{overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem;border-bottom:1px solid var(--line);vertical-align:top}
@media (max-width:40rem){td,th{display:block;border:0}tr{display:block;border-bottom:1px solid var(--line)}}
button{font:inherit;padding:.2rem .6rem}";

/// `s` safe inside HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page. With `csrf` (an admin token is configured) each dead letter
/// has a requeue form, which asks for the admin token.
pub fn render(s: &Status, csrf: Option<&str>) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width,initial-scale=1\">\
         <title>imagebump status</title><style>{STYLE}</style></head><body>\
         <h1>imagebump status</h1><p class=muted>As of {}</p><h2>Repositories</h2>",
        when(s.now_ms)
    );
    if s.repos.is_empty() {
        h.push_str("<p class=muted>No repositories.</p>");
    }
    for r in &s.repos {
        let _ = write!(h, "<section class=repo><h3>{}</h3>", escape(&r.name));
        match &r.last_run {
            Some(run) => {
                let ok = run.outcome.as_deref() == Some("ok");
                let _ = write!(
                    h,
                    "<p>Last reconcile: {} ({} ago), <span class={}>{}</span></p>",
                    when(run.finished_at_ms),
                    span(s.now_ms.saturating_sub(run.finished_at_ms)),
                    if ok { "ok" } else { "bad" },
                    escape(run.outcome.as_deref().unwrap_or("unknown"))
                );
                if let Some(e) = &run.error {
                    let _ = write!(h, "<p class=bad>Error: <code>{}</code></p>", escape(e));
                }
            }
            None => h.push_str("<p class=muted>Not reconciled yet.</p>"),
        }
        if let Some(next) = r.next_poll_ms {
            let _ = write!(h, "<p class=muted>Next poll about {}</p>", when(next));
        }
        if !r.holds.is_empty() || !r.rollback_holds.is_empty() || !r.ignores.is_empty() {
            h.push_str("<ul>");
            for p in &r.holds {
                let _ = write!(
                    h,
                    "<li>Held: <b>{}</b> (manual <code>/imagebump hold</code>)</li>",
                    escape(p)
                );
            }
            for k in &r.rollback_holds {
                let _ = write!(
                    h,
                    "<li>Held: <b>{}</b> in <code>{}</code>, rolled back from {} to {} by {} \
                     in <code>{}</code> at {}</li>",
                    escape(&k.policy),
                    escape(&k.file),
                    escape(&k.from),
                    escape(&k.to),
                    escape(&k.author),
                    escape(&k.commit),
                    when(k.at_ms)
                );
            }
            for i in &r.ignores {
                let _ = write!(h, "<li>Ignored: {}</li>", escape(i));
            }
            h.push_str("</ul>");
        }
        h.push_str("</section>");
    }
    let _ = write!(
        h,
        "<h2>Queue</h2><p>Depth <b id=depth>{}</b>, oldest job {}, dead letters <b id=dead>{}</b></p>",
        s.queue.depth,
        s.queue.oldest(),
        s.queue.dead
    );
    if !s.dead_letters.is_empty() {
        h.push_str(
            "<table><tr><th>Id</th><th>Job</th><th>Attempts</th><th>Dead since</th>\
             <th>Last error</th><th></th></tr>",
        );
        for d in &s.dead_letters {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>",
                d.id,
                escape(&d.kind),
                escape(d.repo.as_deref().unwrap_or("")),
                d.attempts,
                when(d.dead_at_ms),
                escape(&d.last_error)
            );
            if let Some(csrf) = csrf {
                let _ = write!(
                    h,
                    "<form method=post action=\"/status/dead-letters/{}/requeue\">\
                     <input type=hidden name=csrf value=\"{}\">\
                     <input type=password name=admin_token placeholder=\"admin token\" \
                     autocomplete=off required> <button>Requeue</button></form>",
                    d.id,
                    escape(csrf)
                );
            }
            h.push_str("</td></tr>");
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>");
    h
}
