//! `docs/PROTOCOL.md`'s numbering: its sections are numbered 1, 2, 3, … and
//! each one's subsections N.1, N.2, …, and every `§N` or `§N.M` it cites has
//! a heading. (§12 once had no heading: the text cited a section a reader
//! could not find.)

#![allow(clippy::unwrap_used, missing_docs)]

/// Everything wrong with the numbering of `text`, one line each.
fn numbering_problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut headings = Vec::new();
    let (mut section, mut subsection) = (0u32, 0u32);
    for line in text.lines() {
        let (level, rest) = if let Some(rest) = line.strip_prefix("### ") {
            (3, rest)
        } else if let Some(rest) = line.strip_prefix("## ") {
            (2, rest)
        } else {
            continue;
        };
        let Some(number) = rest.split(' ').next().map(|n| n.trim_end_matches('.')) else {
            continue;
        };
        let parts: Vec<u32> = match number.split('.').map(str::parse).collect() {
            Ok(parts) => parts,
            Err(_) => {
                problems.push(format!("heading without a number: {line}"));
                continue;
            }
        };
        match (level, parts.as_slice()) {
            (2, [n]) => {
                if *n != section + 1 {
                    problems.push(format!("§{n} follows §{section}"));
                }
                (section, subsection) = (*n, 0);
            }
            (3, [n, m]) => {
                if *n != section || *m != subsection + 1 {
                    problems.push(format!("§{n}.{m} follows §{section}.{subsection}"));
                }
                subsection = *m;
            }
            _ => problems.push(format!("badly numbered heading: {line}")),
        }
        headings.push(number.to_string());
    }
    for (i, _) in text.match_indices('§') {
        let cited: String = text[i + '§'.len_utf8()..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let cited = cited.trim_end_matches('.');
        if !cited.is_empty() && !headings.iter().any(|h| h == cited) {
            problems.push(format!("§{cited} is cited but has no heading"));
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

fn protocol() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/PROTOCOL.md");
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn protocol_sections_are_numbered_and_every_citation_has_a_heading() {
    assert_eq!(numbering_problems(&protocol()), Vec::<String>::new());
}

#[test]
fn a_missing_heading_is_found() {
    let text = protocol();
    let without = text.replace("## 12. Registry snapshot", "Registry snapshot");
    assert_ne!(without, text);
    let problems = numbering_problems(&without);
    assert!(problems.contains(&"§12 is cited but has no heading".to_string()));
    assert!(problems.contains(&"§13 follows §11".to_string()));
}
