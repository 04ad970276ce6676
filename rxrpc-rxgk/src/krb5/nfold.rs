//! The n-fold function of RFC 3961 section 5.1.

/// Fold (or stretch) `input` to `out_len` bytes as RFC 3961 section 5.1 defines it: replicate
/// the input, rotating each copy 13 bits further to the right, up to the least common multiple
/// of the input and output lengths, then add the `out_len`-byte chunks with one's-complement
/// addition.
///
/// Returns an empty vector if either length is zero.
pub fn nfold(input: &[u8], out_len: usize) -> Vec<u8> {
    let in_len = input.len();
    if in_len == 0 || out_len == 0 {
        return Vec::new();
    }
    let lcm = in_len / gcd(in_len, out_len) * out_len;
    let in_bits = in_len * 8;
    // Sum into a big-endian accumulator of out_len bytes, chunk by chunk.
    let mut acc = vec![0u32; out_len];
    let mut chunk = vec![0u8; out_len];
    let mut pos = 0;
    while pos < lcm {
        for (j, byte) in chunk.iter_mut().enumerate() {
            *byte = replicated_byte(input, in_bits, pos + j);
        }
        for (a, b) in acc.iter_mut().zip(&chunk) {
            *a += u32::from(*b);
        }
        pos += out_len;
    }
    // Propagate carries (one's complement: the carry out of the top wraps to the bottom) until
    // none is left.
    loop {
        let mut carry = 0u32;
        for a in acc.iter_mut().rev() {
            let v = *a + carry;
            *a = v & 0xff;
            carry = v >> 8;
        }
        if carry == 0 {
            break;
        }
        if let Some(last) = acc.last_mut() {
            *last += carry;
        }
    }
    acc.into_iter().map(|v| v as u8).collect()
}

/// Byte `k` of the replicated string: copy `k / in_len` is the input rotated right by
/// `13 * copy` bits.
fn replicated_byte(input: &[u8], in_bits: usize, k: usize) -> u8 {
    let in_len = input.len();
    let copy = k / in_len;
    let idx = k % in_len;
    let rot = (13 * copy) % in_bits;
    // Bit b of the rotated string (MSB first) is bit (b - rot) mod in_bits of the input.
    let mut out = 0u8;
    for bit in 0..8 {
        let b = idx * 8 + bit;
        let src = (b + in_bits - rot) % in_bits;
        let v = (input[src / 8] >> (7 - (src % 8))) & 1;
        out |= v << (7 - bit);
    }
    out
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}
