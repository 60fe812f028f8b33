//! The crate's random numbers: small, fast, and seeded per item.
//!
//! Every random decision comes from an [`Rng`] seeded by a tuple such as (seed, step, row),
//! hashed with SplitMix64; the stream is wyrand. Results therefore never depend on which
//! thread handles which row, or in which order.

/// The last key of each stream, by purpose, so that streams for different purposes never
/// coincide (masking row 3 of a step once drew the stream that orders an epoch's shards).
pub mod tag {
    pub const DOCUMENT: u64 = 1;
    pub const SHUFFLE: u64 = 2;
    pub const ORDER: u64 = 3;
    pub const MASK: u64 = 4;
}

/// A deterministic random stream.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

#[inline(always)]
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// The stream for one item: `keys` are hashed in order (e.g. `[seed, step, row]`).
    pub fn new(keys: &[u64]) -> Rng {
        let mut state = 0x243F_6A88_85A3_08D3; // digits of pi: any fixed start
        for &k in keys {
            state = splitmix(state ^ k);
        }
        Rng { state }
    }

    /// The next 64 random bits (wyrand).
    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0xA076_1D64_78BD_642F);
        let t = u128::from(self.state) * u128::from(self.state ^ 0xE703_7ED1_A0B4_28DB);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// A uniform float in [0, 1).
    #[inline(always)]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in [0, n) (Lemire's multiply-shift, with rejection; n > 0).
    #[inline(always)]
    pub fn below(&mut self, n: u64) -> u64 {
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// `true` with probability `threshold / 2^64` (see [`probability_threshold`]).
    #[inline(always)]
    pub fn chance(&mut self, threshold: u64) -> bool {
        self.next_u64() < threshold
    }
}

/// A probability as its exact binary expansion, for [`Rng::bernoulli_lanes`].
#[derive(Clone, Copy, Debug)]
pub struct Binary {
    /// `p = mantissa × 2^-shift`, or all lanes true when `always`.
    mantissa: u64,
    shift: u32,
    always: bool,
}

impl Binary {
    /// The expansion of `p` (clamped to [0, 1]); exact for every `f64`.
    pub fn new(p: f64) -> Binary {
        if p >= 1.0 {
            return Binary { mantissa: 0, shift: 0, always: true };
        }
        if p.is_nan() || p <= 0.0 || p < f64::MIN_POSITIVE {
            return Binary { mantissa: 0, shift: 0, always: false }; // 0, or too small to matter
        }
        // p = m × 2^(e - 1075) with a 53-bit m for normal numbers; drop trailing zero bits
        let bits = p.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as i32;
        let mut mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
        let mut shift = (1075 - exponent) as u32; // p = mantissa / 2^shift
        let zeros = mantissa.trailing_zeros().min(shift);
        mantissa >>= zeros;
        shift -= zeros;
        Binary { mantissa, shift, always: false }
    }

    /// The binary digit of weight 2^-k (k ≥ 1).
    #[inline(always)]
    fn digit(&self, k: u32) -> bool {
        k <= self.shift && self.shift - k < 64 && (self.mantissa >> (self.shift - k)) & 1 == 1
    }
}

impl Rng {
    /// 64 independent draws that are `true` with probability exactly `p`, as the bits of a
    /// word. Each lane compares a uniform U = 0.u1u2u3... with p's binary digits and is
    /// decided at the first digit where they differ (U < p iff there p has a 1); all lanes
    /// advance together, so a word costs about eight draws instead of 64.
    #[inline]
    pub fn bernoulli_lanes(&mut self, p: &Binary) -> u64 {
        if p.always {
            return u64::MAX;
        }
        let (mut yes, mut undecided) = (0u64, u64::MAX);
        let mut k = 1;
        while undecided != 0 && k <= p.shift {
            let r = self.next_u64(); // lane bits: the digit u_k of each lane's U
            if p.digit(k) {
                yes |= undecided & !r; // u_k = 0 < 1: U < p
                undecided &= r;
            } else {
                undecided &= !r; // u_k = 1 > 0: U > p
            }
            k += 1;
        }
        yes // lanes still undecided have U's digits equal to all of p's so far: U ≥ p
    }
}

/// The 64-bit threshold for [`Rng::chance`] of probability `p` in [0, 1].
pub fn probability_threshold(p: f64) -> u64 {
    if p >= 1.0 {
        u64::MAX
    } else if p <= 0.0 {
        0
    } else {
        (p * 18_446_744_073_709_551_616.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(&[1, 2, 3]).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::new(&[1, 2, 3]).next_u64(), Rng::new(&[1, 2, 4]).next_u64());
        assert_ne!(Rng::new(&[1, 2]).next_u64(), Rng::new(&[2, 1]).next_u64());
    }

    #[test]
    fn rough_uniformity() {
        let mut r = Rng::new(&[7]);
        let n = 200_000;
        let hits = (0..n).filter(|_| r.chance(probability_threshold(0.15))).count();
        assert!((hits as f64 / n as f64 - 0.15).abs() < 0.005);
        let mut counts = [0usize; 10];
        for _ in 0..n {
            counts[r.below(10) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (c as f64 / n as f64 - 0.1).abs() < 0.005));
        let mean: f64 = (0..n).map(|_| r.uniform()).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.005);
    }

    #[test]
    fn bernoulli_lanes_have_the_exact_rate() {
        let mut r = Rng::new(&[3]);
        assert_eq!(r.bernoulli_lanes(&Binary::new(0.0)), 0);
        assert_eq!(r.bernoulli_lanes(&Binary::new(1.0)), u64::MAX);
        for p in [0.15, 0.5, 0.8, 0.999, 1e-3, 0.3] {
            let b = Binary::new(p);
            let words = 40_000;
            let mut hits = 0u64;
            let mut per_lane = [0u32; 64];
            for _ in 0..words {
                let w = r.bernoulli_lanes(&b);
                hits += u64::from(w.count_ones());
                for (lane, n) in per_lane.iter_mut().enumerate() {
                    *n += (w >> lane & 1) as u32;
                }
            }
            let rate = hits as f64 / (64 * words) as f64;
            let sd = (p * (1.0 - p) / (64 * words) as f64).sqrt();
            assert!((rate - p).abs() < 5.0 * sd, "p={p}: {rate}");
            let lane_sd = (p * (1.0 - p) / words as f64).sqrt();
            for n in per_lane {
                assert!((f64::from(n) / words as f64 - p).abs() < 6.0 * lane_sd + 1e-9, "p={p}");
            }
        }
        // digits: 0.15 = 0.00100110011...b
        let b = Binary::new(0.15);
        let digits: Vec<bool> = (1..=8).map(|k| b.digit(k)).collect();
        assert_eq!(digits, [false, false, true, false, false, true, true, false]);
    }
}
