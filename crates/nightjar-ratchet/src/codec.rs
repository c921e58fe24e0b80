//! A bounds-checked reader for the byte layouts of this crate: every read
//! returns an error instead of panicking on short input.

use crate::error::RatchetError;

/// Reads fields front to back from a byte slice.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`, naming `what` in its errors.
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { rest: bytes, what }
    }

    fn short(&self) -> RatchetError {
        RatchetError::malformed(self.what, "truncated")
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], RatchetError> {
        if self.rest.len() < n {
            return Err(self.short());
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], RatchetError> {
        let (head, tail) = self.rest.split_first_chunk::<N>().ok_or(self.short())?;
        self.rest = tail;
        Ok(*head)
    }

    /// One byte.
    pub(crate) fn u8(&mut self) -> Result<u8, RatchetError> {
        Ok(u8::from_be_bytes(self.array::<1>()?))
    }

    /// A u16, big-endian.
    pub(crate) fn u16(&mut self) -> Result<u16, RatchetError> {
        Ok(u16::from_be_bytes(self.array::<2>()?))
    }

    /// A u32, big-endian.
    pub(crate) fn u32(&mut self) -> Result<u32, RatchetError> {
        Ok(u32::from_be_bytes(self.array::<4>()?))
    }

    /// A presence flag: `0x00` (absent) or `0x01` (present); anything else is
    /// malformed.
    pub(crate) fn flag(&mut self) -> Result<bool, RatchetError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(RatchetError::malformed(
                self.what,
                "a flag byte is not 0 or 1",
            )),
        }
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(self) -> Result<(), RatchetError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(RatchetError::malformed(self.what, "trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_fields_and_refuses_short_input_and_trailing_bytes() {
        let bytes = [1u8, 0, 2, 0, 0, 0, 3, 9, 9];
        let mut r = Reader::new(&bytes, "test");
        assert!(r.flag().unwrap());
        assert_eq!(r.u16().unwrap(), 2);
        assert_eq!(r.u32().unwrap(), 3);
        assert!(r.take(3).is_err(), "only two bytes left");
        assert_eq!(r.take(1).unwrap(), &[9]);
        assert!(r.finish().is_err(), "one byte left");
        let mut r = Reader::new(&[2u8], "test");
        assert!(r.flag().is_err());
    }
}
