//! A bounds-checked cursor over untrusted bytes: every read either succeeds or
//! returns [`ProtoError::Truncated`] naming the field; nothing here can panic.

use crate::error::{ProtoError, Result};

/// Cursor over a byte slice that reads big- and little-endian integers.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Current offset from the start of the input.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The whole input, independent of the cursor.
    pub(crate) fn whole(&self) -> &'a [u8] {
        self.buf
    }

    /// The unread rest of the input, without consuming it.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Moves the cursor to an absolute offset (which must lie inside the input).
    pub(crate) fn seek(&mut self, offset: usize, what: &'static str) -> Result<()> {
        if offset > self.buf.len() {
            return Err(ProtoError::Truncated {
                what,
                needed: offset,
                got: self.buf.len(),
            });
        }
        self.pos = offset;
        Ok(())
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(ProtoError::Truncated {
            what,
            needed: usize::MAX,
            got: self.buf.len(),
        })?;
        let slice = self.buf.get(self.pos..end).ok_or(ProtoError::Truncated {
            what,
            needed: end,
            got: self.buf.len(),
        })?;
        self.pos = end;
        Ok(slice)
    }

    /// Takes everything that is left.
    pub(crate) fn take_rest(&mut self) -> &'a [u8] {
        let rest = self.rest();
        self.pos = self.buf.len();
        rest
    }

    /// Skips `n` bytes.
    pub(crate) fn skip(&mut self, n: usize, what: &'static str) -> Result<()> {
        self.take(n, what).map(|_| ())
    }

    /// Reads a fixed-size array.
    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// Reads one byte.
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a big-endian u16.
    pub(crate) fn u16_be(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// Reads a little-endian u16.
    pub(crate) fn u16_le(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    /// Reads a big-endian u32.
    pub(crate) fn u32_be(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// Reads a little-endian u32.
    pub(crate) fn u32_le(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// Reads a big-endian u64.
    pub(crate) fn u64_be(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Reads a little-endian u64.
    pub(crate) fn u64_le(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_integers_in_both_orders() {
        let mut r = Reader::new(&[1, 2, 3, 4, 5, 6]);
        assert_eq!(r.u16_be("a").unwrap(), 0x0102);
        assert_eq!(r.u16_le("b").unwrap(), 0x0403);
        assert_eq!(r.remaining(), 2);
        assert_eq!(
            r.u32_be("c"),
            Err(ProtoError::Truncated {
                what: "c",
                needed: 8,
                got: 6
            })
        );
    }

    #[test]
    fn huge_take_does_not_overflow() {
        let mut r = Reader::new(&[0; 4]);
        r.skip(2, "x").unwrap();
        assert!(r.take(usize::MAX, "y").is_err());
        assert!(r.seek(5, "z").is_err());
    }
}
