//! Seeded mutation of a case's frames.

/// A small deterministic PRNG (splitmix64): the same seed gives the same
/// mutations on every machine, with no dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The generator of one iteration: iterations can be replayed alone.
    pub fn for_iteration(seed: u64, iteration: u64) -> Self {
        let mut r = Self(seed ^ iteration.wrapping_mul(0xa076_1d64_78bd_642f));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Values that break limits: zero, sign bits, maxima.
const EXTREMES: [u32; 6] = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 65_537];

/// Applies 1 to 4 random mutations to `frames`.
pub fn mutate(rng: &mut Rng, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut f = frames.to_vec();
    for _ in 0..1 + rng.below(4) {
        if f.is_empty() {
            f.push(random_bytes(rng, 16));
        }
        let i = rng.below(f.len());
        match rng.below(12) {
            // Truncate a frame.
            0 => {
                let n = rng.below(f[i].len() + 1);
                f[i].truncate(n);
            }
            // A wrong 24-bit length field.
            1 => {
                if f[i].len() >= 8 {
                    let len = f[i].len() - 8;
                    let wrong = match rng.below(3) {
                        0 => len + 1,
                        1 => len.saturating_sub(1),
                        _ => rng.below(1 << 24),
                    };
                    f[i][5..8].copy_from_slice(&(wrong as u32).to_be_bytes()[1..]);
                }
            }
            // Flip bits.
            2 => {
                for _ in 0..1 + rng.below(3) {
                    if !f[i].is_empty() {
                        let at = rng.below(f[i].len());
                        f[i][at] ^= 1 << rng.below(8);
                    }
                }
            }
            // Swap two frames.
            3 => {
                let j = rng.below(f.len());
                f.swap(i, j);
            }
            // Send a frame twice.
            4 => {
                let copy = f[i].clone();
                f.insert(i, copy);
            }
            // Leave a frame out.
            5 => {
                f.remove(i);
            }
            // An unknown control frame type (or an unknown type over a known payload).
            6 => {
                if f[i].len() >= 8 {
                    f[i][0] |= 0x80;
                    let ty = 0x0c + rng.below(0xfff0) as u16;
                    f[i][2..4].copy_from_slice(&ty.to_be_bytes());
                }
            }
            // An extreme value in a 32-bit field (stream id, delta, status, ...).
            7 => {
                if f[i].len() >= 12 {
                    let at = 8 + 4 * rng.below((f[i].len() - 8) / 4);
                    let v = EXTREMES[rng.below(EXTREMES.len())];
                    f[i][at..at + 4].copy_from_slice(&v.to_be_bytes());
                }
            }
            // A random part.
            8 => {
                let junk = random_bytes(rng, 40);
                f.insert(i, junk);
            }
            // Trailing bytes (the length field no longer fits).
            9 => {
                let junk = random_bytes(rng, 8);
                f[i].extend_from_slice(&junk);
            }
            // Another control version.
            10 => {
                if f[i].len() >= 2 && f[i][0] & 0x80 != 0 {
                    f[i][1] = [0, 1, 2, 4, 0xff][rng.below(5)];
                }
            }
            // An oversized frame: a large payload with a matching length.
            _ => {
                if f[i].len() >= 8 {
                    let extra = 65_536 + rng.below(64);
                    let size = f[i].len() + extra;
                    f[i].resize(size, b'x');
                    let len = (f[i].len() - 8) as u32;
                    f[i][5..8].copy_from_slice(&len.to_be_bytes()[1..]);
                }
            }
        }
    }
    f
}

fn random_bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    (0..rng.below(max + 1))
        .map(|_| rng.next_u64() as u8)
        .collect()
}

/// The stream id a (possibly malformed) part names, read from where a
/// well-formed frame would carry it.
pub(super) fn raw_stream_id(part: &[u8]) -> Option<u32> {
    let word = |at: usize| {
        part.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff)
    };
    if part.first()? & 0x80 == 0 {
        word(0)
    } else {
        word(8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic_per_iteration() {
        let a: Vec<u64> = (0..4)
            .map(|_| Rng::for_iteration(7, 3).next_u64())
            .collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::for_iteration(7, 3).next_u64(),
            Rng::for_iteration(7, 4).next_u64()
        );
        let frames = vec![vec![0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]];
        let m1 = mutate(&mut Rng::for_iteration(1, 9), &frames);
        let m2 = mutate(&mut Rng::for_iteration(1, 9), &frames);
        assert_eq!(m1, m2);
    }

    #[test]
    fn mutations_change_the_frames() {
        let frames = vec![vec![0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]; 3];
        let changed = (0..50)
            .filter(|i| mutate(&mut Rng::for_iteration(5, *i), &frames) != frames)
            .count();
        assert!(changed > 40, "only {changed} of 50 mutated");
    }

    #[test]
    fn raw_stream_ids() {
        assert_eq!(raw_stream_id(&[0, 0, 0, 5, 1, 0, 0, 0]), Some(5));
        assert_eq!(
            raw_stream_id(&[0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 7]),
            Some(7)
        );
        assert_eq!(raw_stream_id(&[0x80, 3]), None);
    }
}
