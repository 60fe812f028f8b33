//! The crate's random numbers: small, fast, and seeded per item.
//!
//! Every random decision comes from an [`Rng`] seeded by a tuple such as (seed, step, row),
//! hashed with SplitMix64; the stream is wyrand. Results therefore never depend on which
//! thread handles which row, or in which order.

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
}
