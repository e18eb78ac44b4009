//! Hostile content (issue 12, "Hostile content"): what a person or a
//! compromised pipeline can put in the env repository or its config, fed
//! to the real scanner, config parser and tag chooser. Each ends in a
//! clear error or a result, with the stack and memory a worker has; none
//! panics or overflows the stack.

use imagebump::manifest;
use imagebump::policy::parse_config;

/// The "billion laughs" shape: each alias names the level below ten
/// times. A scanner that expanded aliases would need 10^9 nodes.
fn alias_bomb() -> String {
    let mut text = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
    let mut below = "a";
    for name in names {
        text.push_str(&format!(
            "{name}: &{name} [*{below},*{below},*{below},*{below},*{below},*{below},*{below},*{below},*{below}]\n"
        ));
        below = name;
    }
    text.push_str("image: nginx:1.25.0\n");
    text
}

#[test]
fn a_yaml_alias_bomb_is_scanned_without_expanding_it() {
    let text = alias_bomb();
    // Aliases are not followed: the one real reference is found (or the
    // file is refused), and nothing grows.
    let refs = manifest::scan(&text).unwrap();
    let found: Vec<String> = refs.iter().map(|r| format!("{r:?}")).collect();
    assert_eq!(refs.len(), 1, "{found:?}");
    assert!(found[0].contains("1.25.0"), "{found:?}");
    let config = format!("{text}policies: []\n");
    let errors = parse_config(".imagebump.yaml", &config).unwrap_err();
    assert!(!errors.is_empty());
}

/// Runs `f` on a thread with a worker's stack (tokio's default, 2 MiB).
fn on_a_worker_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .expect("no stack overflow, no panic")
}

#[test]
fn ten_thousand_levels_of_nesting_are_a_clear_error_or_a_result() {
    let depth = 10_000;
    let flow = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let mut block = String::new();
    for level in 0..depth {
        block.push_str(&" ".repeat(level));
        block.push_str("a:\n");
    }
    block.push_str(&" ".repeat(depth));
    block.push_str("image: nginx:1.25.0\n");
    let braces = format!("{}{}", "{a: ".repeat(depth), "}".repeat(depth));
    for text in [flow, block, braces] {
        let (scanned, parsed) = on_a_worker_stack(move || {
            let scanned = manifest::scan(&text).map(|r| r.len());
            let parsed = parse_config(".imagebump.yaml", &text).map(|_| ());
            (scanned, parsed)
        });
        // Ours (`yaml::MAX_DEPTH`), or saphyr-parser's own for flow
        // collections.
        let deep = |m: &str| m.contains("nested deeper than 256") || m.contains("recursion limit");
        let err = scanned.unwrap_err();
        assert!(deep(&err.message), "{err:?}");
        let errors = parsed.unwrap_err();
        assert!(errors.iter().any(|e| deep(&e.to_string())), "{errors:?}");
    }
    // A deep but real document is still read.
    let mut deep = String::new();
    for level in 0..200 {
        deep.push_str(&" ".repeat(level));
        deep.push_str("a:\n");
    }
    deep.push_str(&" ".repeat(200));
    deep.push_str("image: nginx:1.25.0\n");
    assert_eq!(manifest::scan(&deep).unwrap().len(), 1);
}

#[test]
fn a_manifest_with_100_000_image_references_is_scanned_whole() {
    let mut text = String::from("images:\n");
    for i in 0..100_000 {
        text.push_str(&format!("  - image: registry.example/app{i}:1.0.{i}\n"));
    }
    let refs = on_a_worker_stack(move || manifest::scan(&text).map(|r| r.len()));
    assert_eq!(refs.unwrap(), 100_000);
}

/// The textbook catastrophic pattern, `(a+)+$`, against 100,000 `a`s and a
/// `b`: a backtracking engine takes exponential time. The `regex` crate
/// guarantees time linear in the input (https://docs.rs/regex, "Untrusted
/// input"), so choosing among such tags ends, and finds no match.
#[test]
fn a_catastrophic_tag_pattern_is_matched_in_linear_time() {
    let config = "policies:\n  - name: web\n    image: acme/web\n    tags:\n      pattern: '^(a+)+$'\n      order: alphabetical\n";
    let repo = parse_config(".imagebump.yaml", config).expect("valid config");
    let policy = &repo.policies[0];
    let hostile = format!("{}b", "a".repeat(100_000));
    let tags = vec![hostile, "aaaa".to_string()];
    let decision = imagebump::policy::choose(policy, "aaa", &tags, false);
    let shown = format!("{decision:?}");
    assert!(
        shown.contains("\"aaaa\"") && shown.len() < 2_000,
        "the matching tag is chosen, the hostile one is not: {}",
        &shown[..shown.len().min(300)]
    );
}

/// An image with 100,000 tags: every tag is weighed once, and the newest
/// in range wins.
#[test]
fn an_image_with_100_000_tags_is_chosen_from_whole() {
    let config = "policies:\n  - name: web\n    image: acme/web\n    semver: ^1\n";
    let repo = parse_config(".imagebump.yaml", config).expect("valid config");
    let mut tags: Vec<String> = (0..100_000)
        .map(|i| format!("1.{}.{}", i / 1000, i % 1000))
        .collect();
    tags.push("2.0.0".into());
    tags.push("not-a-version".into());
    let decision = imagebump::policy::choose(&repo.policies[0], "1.0.0", &tags, false);
    assert!(format!("{decision:?}").contains("1.99.999"), "{decision:?}");
}
