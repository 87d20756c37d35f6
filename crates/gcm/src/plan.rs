//! Which AES-GCM engine seals which plaintext lengths: a [`Plan`] of steps over [`Engine`]s.
//! The data plane times the engines on the machine it runs on and builds the plan from what
//! it measured; a sealer then asks the plan, per packet, which engine takes it. The plan is a
//! small fixed table (no allocation), so asking costs a few compares.

/// An AES-GCM engine a sealer can hand a packet to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The crypto device (or intel-ipsec-mb called directly, for `crypto_aesni_gcm`).
    Device,
    /// rri's own code on VAES and VPCLMULQDQ ([`crate::VaesGcm`]); the device where the CPU
    /// lacks them.
    Vaes,
    /// ring, one packet at a time.
    Ring,
}

/// Which engine seals which plaintext lengths: steps of (shortest length, engine), the first
/// from 0, in increasing length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    steps: [(usize, Engine); Plan::MAX_STEPS],
    len: usize,
}

impl Plan {
    const MAX_STEPS: usize = 8;

    /// One engine for every length.
    pub const fn uniform(engine: Engine) -> Plan {
        Plan {
            steps: [(0, engine); Plan::MAX_STEPS],
            len: 1,
        }
    }

    /// `below` for plaintexts shorter than `from` bytes, `above` for the rest.
    pub fn split(below: Engine, from: usize, above: Engine) -> Plan {
        Plan::uniform(below).with_step(from, above)
    }

    /// The same plan with lengths from `from` on given to `engine` (see [`Plan::push`]).
    pub fn with_step(mut self, from: usize, engine: Engine) -> Plan {
        self.push(from, engine);
        self
    }

    /// Hands lengths from `from` on to `engine`. Steps go in increasing length: one at or
    /// below the last step's start is ignored, as is one past the capacity; one with the
    /// engine of the step before is that step already.
    pub fn push(&mut self, from: usize, engine: Engine) {
        let (last_from, last_engine) = self.steps[self.len - 1];
        if from > last_from && engine != last_engine && self.len < Plan::MAX_STEPS {
            self.steps[self.len] = (from, engine);
            self.len += 1;
        }
    }

    /// The same plan with `from` wherever it names `to`.
    pub fn replacing(&self, from: Engine, to: Engine) -> Plan {
        let swap = |engine: Engine| if engine == from { to } else { engine };
        let mut plan = Plan::uniform(swap(self.steps[0].1));
        for &(at, engine) in &self.steps[1..self.len] {
            plan.push(at, swap(engine));
        }
        plan
    }

    /// The steps in use.
    pub fn steps(&self) -> &[(usize, Engine)] {
        &self.steps[..self.len]
    }

    /// The engine for a plaintext of `len` bytes.
    #[inline]
    pub fn engine_for(&self, len: usize) -> Engine {
        let mut engine = self.steps[0].1;
        for &(from, next) in &self.steps[1..self.len] {
            if len < from {
                break;
            }
            engine = next;
        }
        engine
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_plan_hands_each_length_to_its_step() {
        let plan = Plan::split(Engine::Vaes, 300, Engine::Device).with_step(900, Engine::Ring);
        assert_eq!(
            plan.steps(),
            [
                (0, Engine::Vaes),
                (300, Engine::Device),
                (900, Engine::Ring)
            ]
        );
        for (len, engine) in [
            (0, Engine::Vaes),
            (299, Engine::Vaes),
            (300, Engine::Device),
            (899, Engine::Device),
            (900, Engine::Ring),
            (usize::MAX, Engine::Ring),
        ] {
            assert_eq!(plan.engine_for(len), engine, "{len} bytes");
        }
        // Neighbouring steps with one engine are one step.
        let plan = Plan::uniform(Engine::Vaes)
            .with_step(128, Engine::Vaes)
            .with_step(512, Engine::Ring);
        assert_eq!(plan.steps(), [(0, Engine::Vaes), (512, Engine::Ring)]);
    }

    #[test]
    fn a_plan_without_vaes_hands_its_vaes_steps_to_the_device() {
        let plan = Plan::split(Engine::Vaes, 300, Engine::Device).with_step(900, Engine::Ring);
        assert_eq!(
            plan.replacing(Engine::Vaes, Engine::Device).steps(),
            [(0, Engine::Device), (900, Engine::Ring)]
        );
        let plan = Plan::split(Engine::Ring, 300, Engine::Vaes);
        assert_eq!(
            plan.replacing(Engine::Vaes, Engine::Device).steps(),
            [(0, Engine::Ring), (300, Engine::Device)]
        );
    }

    fn engine() -> impl Strategy<Value = Engine> {
        prop_oneof![Just(Engine::Device), Just(Engine::Vaes), Just(Engine::Ring)]
    }

    proptest! {
        /// A plan built from sizes in increasing order gives each length the engine of the
        /// last size at or below it (the first size's engine below it), as a table would;
        /// past its capacity, later steps are dropped rather than misplaced.
        #[test]
        fn a_plan_agrees_with_a_table(
            first in engine(),
            mut steps in proptest::collection::vec((1usize..3000, engine()), 0..12),
            probes in proptest::collection::vec(0usize..3500, 20),
        ) {
            steps.sort_by_key(|s| s.0);
            steps.dedup_by_key(|s| s.0);
            let mut plan = Plan::uniform(first);
            for &(from, engine) in &steps {
                plan = plan.with_step(from, engine);
            }
            let model = |len: usize| {
                steps.iter().rev().find(|s| s.0 <= len).map_or(first, |s| s.1)
            };
            let distinct = {
                let mut last = first;
                steps.iter().filter(|s| { let change = s.1 != last; last = s.1; change }).count()
            };
            prop_assert!(plan.steps().windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 != w[1].1));
            if distinct < Plan::MAX_STEPS {
                for len in probes {
                    prop_assert_eq!(plan.engine_for(len), model(len), "{} bytes", len);
                }
            }
        }
    }
}
