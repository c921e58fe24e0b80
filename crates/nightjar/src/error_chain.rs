//! How the commands print an error: each cause once.
//!
//! Many errors show their cause in their own message *and* return it as
//! their source, so `{:#}` would print it twice ("no onion path: not enough
//! usable nodes …: not enough usable nodes …"). [`describe`] walks the
//! chain and leaves out every cause whose text the line already holds.

/// The error and its causes, outermost first, separated by ": ", each cause
/// once.
pub fn describe(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[derive(Debug, thiserror::Error)]
    #[error("not enough usable nodes for an onion path")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("no onion path: {0}")]
    struct Outer(#[from] Inner);

    #[test]
    fn a_cause_already_in_the_message_is_printed_once() {
        let e = anyhow::Error::from(Outer(Inner));
        assert_eq!(
            format!("{e:#}"),
            "no onion path: not enough usable nodes for an onion path: not enough usable nodes for an onion path",
            "the chain as anyhow prints it repeats the cause"
        );
        assert_eq!(
            describe(&e),
            "no onion path: not enough usable nodes for an onion path"
        );
    }

    #[test]
    fn causes_not_in_the_message_are_kept_in_order() {
        let e = anyhow::Error::from(std::io::Error::other("disk full"))
            .context("cannot write state.json")
            .context("devnet up");
        assert_eq!(
            describe(&e),
            "devnet up: cannot write state.json: disk full"
        );
    }
}
