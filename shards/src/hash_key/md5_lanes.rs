//! MD5 of many short partition keys at once: eight at a time in the lanes of AVX2
//! registers, where the CPU has AVX2.
//!
//! Routing hashes every record's partition key. One MD5 of a short key is one 64-byte
//! block of 64 dependent steps, about 100 ns, and with 100-byte records that was about
//! 10 % of the server's CPU (`eddy-bench compare`, W2 100 B × 500). The steps of eight
//! keys are independent of each other, so one AVX2 instruction does the same step for
//! all eight. In that workload (2 invocations of 3 rounds against the scalar path in the
//! same binary) the server's CPU per million records fell 6–14 % and its throughput rose
//! 1.04–1.13×.
//!
//! Keys of up to 55 bytes fit one block with their padding; longer ones, a group of fewer
//! than eight and CPUs without AVX2 take the scalar `md-5` crate. Both give the same
//! digests (tested against each other).

use md5::{Digest, Md5};

/// The longest key that fits one block with MD5's padding (0x80 and the 8-byte length).
const ONE_BLOCK_MAX_LEN: usize = 55;
const LANES: usize = 8;

/// The MD5 digest of each key, as a big-endian `u128` (Kinesis's hash key), in order.
pub fn md5_of_each<K: AsRef<[u8]>>(keys: &[K]) -> Vec<u128> {
    let mut digests = vec![0u128; keys.len()];
    let mut short: Vec<usize> = Vec::with_capacity(keys.len());
    for (index, key) in keys.iter().map(AsRef::as_ref).enumerate() {
        if key.len() <= ONE_BLOCK_MAX_LEN {
            short.push(index);
        } else {
            digests[index] = scalar(key);
        }
    }
    let scalar_from = if lanes_available() {
        let groups = short.chunks_exact(LANES);
        let rest = groups.remainder().len();
        for group in groups {
            let group: &[usize; LANES] = group.try_into().expect("chunks of LANES");
            let lane_digests = lanes(group.map(|index| keys[index].as_ref()));
            for (index, digest) in group.iter().zip(lane_digests) {
                digests[*index] = digest;
            }
        }
        short.len() - rest
    } else {
        0
    };
    // What is left: fewer than eight short keys, or every one without AVX2.
    for &index in &short[scalar_from..] {
        digests[index] = scalar(keys[index].as_ref());
    }
    digests
}

fn scalar(key: &[u8]) -> u128 {
    u128::from_be_bytes(Md5::digest(key).into())
}

#[cfg(target_arch = "x86_64")]
fn lanes_available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

#[cfg(not(target_arch = "x86_64"))]
fn lanes_available() -> bool {
    false
}

/// Eight keys of at most 55 bytes each; only called when AVX2 is available.
#[cfg(target_arch = "x86_64")]
fn lanes(keys: [&[u8]; LANES]) -> [u128; LANES] {
    let mut words = [[0u32; LANES]; 16];
    for (lane, key) in keys.iter().enumerate() {
        let mut block = [0u8; 64];
        block[..key.len()].copy_from_slice(key);
        block[key.len()] = 0x80;
        block[56..].copy_from_slice(&((key.len() as u64) * 8).to_le_bytes());
        for (word, bytes) in block.chunks_exact(4).enumerate() {
            words[word][lane] = u32::from_le_bytes(bytes.try_into().expect("4 bytes"));
        }
    }
    // SAFETY: the caller checked that the CPU has AVX2.
    let state = unsafe { avx2::compress(&words) };
    let mut digests = [0u128; LANES];
    for (lane, digest) in digests.iter_mut().enumerate() {
        let mut bytes = [0u8; 16];
        for (word, chunk) in bytes.chunks_exact_mut(4).enumerate() {
            chunk.copy_from_slice(&state[word][lane].to_le_bytes());
        }
        *digest = u128::from_be_bytes(bytes);
    }
    digests
}

#[cfg(not(target_arch = "x86_64"))]
fn lanes(_keys: [&[u8]; LANES]) -> [u128; LANES] {
    unreachable!("lanes_available() is false off x86_64")
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::LANES;

    /// MD5's initial state: A, B, C, D.
    const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    /// Per step: floor(|sin(i + 1)| · 2^32).
    const K: [u32; 64] = [
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
        0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
        0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
        0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
        0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
        0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
        0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
        0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
        0xeb86d391,
    ];
    /// Left rotations of each round's four steps.
    const SHIFTS: [[i32; 4]; 4] = [
        [7, 12, 17, 22],
        [5, 9, 14, 20],
        [4, 11, 16, 23],
        [6, 10, 15, 21],
    ];

    /// The state after one block per lane: `words[j][lane]` is word `j` of lane `lane`'s
    /// block; the result's `[i][lane]` is word `i` (A, B, C, D) of that lane's digest.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn compress(words: &[[u32; LANES]; 16]) -> [[u32; LANES]; 4] {
        let load = |lanes: &[u32; LANES]| {
            // SAFETY: `lanes` is 32 readable bytes; loadu takes any alignment.
            unsafe { _mm256_loadu_si256(lanes.as_ptr().cast()) }
        };
        let m: [__m256i; 16] = std::array::from_fn(|j| load(&words[j]));
        let ones = _mm256_set1_epi32(-1);
        let [mut a, mut b, mut c, mut d] = INIT.map(|word| _mm256_set1_epi32(word as i32));
        let (a0, b0, c0, d0) = (a, b, c, d);
        for step in 0..64 {
            let round = step / 16;
            let (f, g) = match round {
                // (b & c) | (!b & d)
                0 => (
                    _mm256_or_si256(_mm256_and_si256(b, c), _mm256_andnot_si256(b, d)),
                    step,
                ),
                // (b & d) | (c & !d)
                1 => (
                    _mm256_or_si256(_mm256_and_si256(b, d), _mm256_andnot_si256(d, c)),
                    (5 * step + 1) % 16,
                ),
                // b ^ c ^ d
                2 => (
                    _mm256_xor_si256(_mm256_xor_si256(b, c), d),
                    (3 * step + 5) % 16,
                ),
                // c ^ (b | !d)
                _ => (
                    _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, ones))),
                    (7 * step) % 16,
                ),
            };
            let sum = _mm256_add_epi32(
                _mm256_add_epi32(a, f),
                _mm256_add_epi32(_mm256_set1_epi32(K[step] as i32), m[g]),
            );
            let shift = SHIFTS[round][step % 4];
            let rotated = _mm256_or_si256(
                _mm256_sllv_epi32(sum, _mm256_set1_epi32(shift)),
                _mm256_srlv_epi32(sum, _mm256_set1_epi32(32 - shift)),
            );
            let next_b = _mm256_add_epi32(b, rotated);
            (a, d, c, b) = (d, c, b, next_b);
        }
        let finish = |state: __m256i, init: __m256i| {
            let mut lanes = [0u32; LANES];
            // SAFETY: `lanes` is 32 writable bytes; storeu takes any alignment.
            unsafe {
                _mm256_storeu_si256(lanes.as_mut_ptr().cast(), _mm256_add_epi32(state, init))
            };
            lanes
        };
        [finish(a, a0), finish(b, b0), finish(c, c0), finish(d, d0)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_digests() {
        // RFC 1321's test suite, as hash keys; nine keys so that one group of eight takes
        // the lanes (with AVX2) and one the scalar path.
        let keys: [&[u8]; 9] = [
            b"",
            b"a",
            b"abc",
            b"message digest",
            b"abcdefghijklmnopqrstuvwxyz",
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
            b"0123456789012345678901234567890123456789012345678901234", // 55 bytes
            b"a",
        ];
        let expected = [
            0xd41d8cd98f00b204e9800998ecf8427e_u128,
            0x0cc175b9c0f1b6a831c399e269772661,
            0x900150983cd24fb0d6963f7d28e17f72,
            0xf96b697d7cb7938d525a2f31aaf161d0,
            0xc3fcd3d76192e4007dfb496cca67e13b,
            0xd174ab98d277d9f5a5611c2c9f419d9f,
            0x57edf4a22be3c955ac49da2e2107b67a,
            scalar(b"0123456789012345678901234567890123456789012345678901234"),
            0x0cc175b9c0f1b6a831c399e269772661,
        ];
        assert_eq!(md5_of_each(&keys), expected);
    }

    #[test]
    fn the_lanes_are_used_where_the_cpu_has_them() {
        // Not a speed check: only that this machine exercises the AVX2 path in the tests
        // below, when it can.
        if lanes_available() {
            let keys: [&[u8]; LANES] = [b"k0", b"k1", b"k2", b"k3", b"k4", b"k5", b"k6", b"k7"];
            assert_eq!(lanes(keys), keys.map(scalar));
        }
    }

    proptest! {
        #[test]
        fn every_key_hashes_as_the_md5_crate_does(
            keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..40)
        ) {
            let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            let expected: Vec<u128> = keys.iter().map(|key| scalar(key)).collect();
            prop_assert_eq!(md5_of_each(&keys), expected);
        }
    }
}
