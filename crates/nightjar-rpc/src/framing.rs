//! Reading one `'\n'`-terminated line with a size limit.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What [`read_line`] read.
#[derive(Debug, PartialEq, Eq)]
pub enum LineRead {
    /// A line is in the buffer (without its `'\n'`; a last line without
    /// one counts too).
    Line,
    /// The stream ended before any byte of a new line.
    Eof,
    /// The line is longer than the limit; what was read of it is dropped
    /// and the stream is left in the middle of it (close the connection).
    TooLong,
}

/// Reads one line into `buf` (cleared first), at most `max` bytes without
/// the `'\n'`: never buffers more than `max + 1` bytes of one line.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<LineRead> {
    buf.clear();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if buf.is_empty() {
                LineRead::Eof
            } else {
                LineRead::Line
            });
        }
        let (chunk, found) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (available.get(..i).unwrap_or_default(), Some(i)),
            None => (available, None),
        };
        if buf.len().saturating_add(chunk.len()) > max {
            buf.clear();
            return Ok(LineRead::TooLong);
        }
        buf.extend_from_slice(chunk);
        match found {
            Some(i) => {
                reader.consume(i.saturating_add(1));
                return Ok(LineRead::Line);
            }
            None => {
                let n = chunk.len();
                reader.consume(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn lines_are_split_and_limited() {
        let data = b"one\ntwo\r\n0123456789\nlast".to_vec();
        let mut reader = tokio::io::BufReader::with_capacity(3, &data[..]);
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut reader, &mut buf, 8).await.unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"one");
        assert_eq!(
            read_line(&mut reader, &mut buf, 8).await.unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"two\r");
        assert_eq!(
            read_line(&mut reader, &mut buf, 8).await.unwrap(),
            LineRead::TooLong
        );
        let mut reader = tokio::io::BufReader::new(&b"last"[..]);
        assert_eq!(
            read_line(&mut reader, &mut buf, 8).await.unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"last");
        assert_eq!(
            read_line(&mut reader, &mut buf, 8).await.unwrap(),
            LineRead::Eof
        );
    }
}
