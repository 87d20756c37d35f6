//! Which AES-GCM engines an SA's packets are sealed and opened with: a value the builder and
//! the control thread are handed, so that the choice is made once by whoever knows the
//! machine (the daemon, after timing the engines) and nothing else holds it.

use esp::{InboundSa, OutboundSa, SaParams};
use std::fmt::Debug;

/// Attaches engines to new SAs. Called on the control thread (and by the builder) when an SA
/// is made, never on the fast path.
pub trait SaCrypto: Send + Sync + Debug {
    /// `sa` sealing its bursts on this machine's engines, or unchanged (ring).
    fn outbound(&self, sa: OutboundSa, params: &SaParams) -> OutboundSa;
    /// `sa` opening its packets on this machine's engines, or unchanged (ring).
    fn inbound(&self, sa: InboundSa, params: &SaParams) -> InboundSa;
}

/// Every SA seals and opens with ring, the portable engine: what tests and tools without a
/// crypto device use.
#[derive(Debug, Clone, Copy, Default)]
pub struct RingOnly;

impl SaCrypto for RingOnly {
    fn outbound(&self, sa: OutboundSa, _: &SaParams) -> OutboundSa {
        sa
    }
    fn inbound(&self, sa: InboundSa, _: &SaParams) -> InboundSa {
        sa
    }
}
