//! The bit-flip half of the targets that check "an altered ciphertext never
//! opens": the fuzzer's bytes XORed over a valid reference value.

/// `reference` with `mask` XORed over its start (mask bytes past its end
/// are ignored), and whether any bit of it changed. A target then checks
/// that the value opens exactly when it was not altered.
pub(crate) fn masked(reference: &[u8], mask: &[u8]) -> (Vec<u8>, bool) {
    let mut out = reference.to_vec();
    let mut altered = false;
    for (byte, m) in out.iter_mut().zip(mask) {
        *byte ^= m;
        altered |= *m != 0;
    }
    (out, altered)
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn only_the_overlap_counts() {
        assert_eq!(masked(&[1, 2, 3], &[]), (vec![1, 2, 3], false));
        assert_eq!(masked(&[1, 2, 3], &[0, 0]), (vec![1, 2, 3], false));
        assert_eq!(masked(&[1, 2, 3], &[0, 6]), (vec![1, 4, 3], true));
        // Past the reference's end the mask is ignored, set bits or not.
        assert_eq!(masked(&[1, 2], &[0, 0, 0xff]), (vec![1, 2], false));
        assert_eq!(masked(&[1], &[1, 0xff]), (vec![0], true));
    }
}
