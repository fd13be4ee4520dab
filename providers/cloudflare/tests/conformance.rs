//! The DNS conformance suite against the in-process fake (always runs), each case in a zone of
//! its own. The same suite runs through Prism in `prism.rs` when the test script started it.

mod common;

mod dns {
    provisio_testkit::dns_conformance! {
        provider: crate::common::provider_in_fresh_zone(),
        context: crate::common::context_in_last_zone(),
    }
}
